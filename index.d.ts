/// <reference types="node" />
import type { Readable } from 'node:stream'

/** The three possible verdicts: plain Symbols, compared with `===`. */
export declare const Verdict: {
  readonly Clean: unique symbol
  readonly Malicious: unique symbol
  readonly ScanError: unique symbol
}
export type VerdictValue = (typeof Verdict)[keyof typeof Verdict]

export interface ScanOptions {
  /** clamd TCP host; its presence selects clamd mode. Default `'127.0.0.1'`. */
  host?: string
  /** clamd TCP port; its presence alone selects clamd mode on 127.0.0.1. Default `3310`. */
  port?: number
  /** clamd UNIX socket path; when truthy it wins over host/port. */
  socket?: string
  /** Socket idle timeout in ms (clamd mode). Default `15000`; `0` disables it. */
  timeout?: number
  /** Extra attempts after a connection failure, reset or timeout (clamd mode). Default `0`. */
  retries?: number
  /** Fixed delay between attempts in ms. Default `1000`. */
  retryDelay?: number
  /** Local mode only: signature directory passed to clamscan as `--database=<dir>`. */
  database?: string
}

export interface DirectoryScanOptions extends ScanOptions {
  /** Files scanned at once. Default 8 in clamd mode, 1 in local mode. */
  concurrency?: number
}

export interface DirectoryScanResult {
  clean: string[]
  malicious: string[]
  errors: string[]
}

export interface ScanProgressEvent {
  type: 'progress'
  scanned: number
  total: number
  file: string
}
export interface ScanResultEvent {
  type: 'result'
  file: string
  verdict: VerdictValue | null
}
export interface ScanCompleteEvent {
  type: 'complete'
  summary: DirectoryScanResult
}
export type DirectoryScanEvent = ScanProgressEvent | ScanResultEvent | ScanCompleteEvent

export declare function scan(filePath: string, options?: ScanOptions | null): Promise<VerdictValue>
export declare function scanBuffer(buffer: Buffer, options?: ScanOptions | null): Promise<VerdictValue>
export declare function scanStream(stream: Readable, options?: ScanOptions | null): Promise<VerdictValue>

export declare const scanDirectory: {
  (dirPath: string, options?: DirectoryScanOptions | null): Promise<DirectoryScanResult>
  stream(dirPath: string, options?: DirectoryScanOptions | null): AsyncGenerator<DirectoryScanEvent, void, void>
}

declare const pompelmi: {
  scan: typeof scan
  scanBuffer: typeof scanBuffer
  scanStream: typeof scanStream
  scanDirectory: typeof scanDirectory
  Verdict: typeof Verdict
}
export default pompelmi
