/// <reference types="node" />
// Types of pompelmi/fastify: the Fastify 5 plugin and its onFile handler.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { MultipartFile } from '@fastify/multipart'
import type { Duplex, Readable } from 'node:stream'
import pompelmi = require('../../index.js')

declare module 'fastify' {
  interface FastifyInstance {
    pompelmi: pompelmiFastify.FastifyPompelmi
  }
  interface FastifyRequest {
    /** Set when the request had files: `{ verdict, files: [{ fieldname, originalname, report }] }`. */
    pompelmi: pompelmi.MiddlewareResult | null
  }
}

declare namespace pompelmiFastify {
  interface PluginOptions extends pompelmi.ScanOptions {
    /** `'reject'` answers 422 (default); `'next'` throws the 422 error (`statusCode` 422) to Fastify's error handler. */
    onScanError?: 'reject' | 'next'
  }
  interface PreHandlerOptions {
    /** The field scanned first (every file is scanned). */
    field?: string
    /** Answers a Malicious request instead of the 403. */
    onMalicious?: (request: FastifyRequest, reply: FastifyReply, report: pompelmi.MiddlewareResult) => unknown
  }
  interface FastifyPompelmi {
    scan(filePath: string, options?: pompelmi.ScanOptions | null): Promise<pompelmi.VerdictValue>
    scanBuffer(buffer: pompelmi.BufferInput, options?: pompelmi.ScanOptions | null): Promise<pompelmi.VerdictValue>
    scanStream(stream: pompelmi.StreamInput, options?: pompelmi.ScanOptions | null): Promise<pompelmi.VerdictValue>
    /** A route-level preHandler; the plugin-wide hook leaves its routes to it. */
    preHandler(options?: PreHandlerOptions): (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>
  }
  interface OnFileOptions extends pompelmi.ScanOptions {
    /** Consumes the tee (e.g. into a file renamed on success); without it the part is only scanned. */
    store?: (part: MultipartFile, tee: pompelmi.ScanningTee, request: FastifyRequest) => Promise<unknown> | unknown
  }
  /** A handler for @fastify/multipart's `onFile` option: each part through the scanning tee as it arrives. */
  function onFile(options?: OnFileOptions | null): (this: FastifyRequest, part: MultipartFile) => Promise<void>
}

/** The plugin (wrapped with fastify-plugin): `app.register(require('pompelmi/fastify'), options)`. */
declare function pompelmiFastify(instance: FastifyInstance, options: pompelmiFastify.PluginOptions): Promise<void>
export = pompelmiFastify
