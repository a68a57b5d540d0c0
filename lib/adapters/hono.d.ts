// Types of pompelmi/hono: middleware over c.req.parseBody({ all: true }).
import type { Context, MiddlewareHandler } from 'hono'
import pompelmi = require('../../index.js')

declare namespace pompelmiHono {
  interface HonoOptions extends pompelmi.ScanOptions {
    /** The field scanned first (every file is scanned). */
    field?: string
    /** Answers a Malicious request instead of the 403. */
    onInfected?: (c: Context, report: pompelmi.MiddlewareResult) => Response | Promise<Response>
    /** `'reject'` answers 422 (default); `'next'` throws an HTTPException(422) to Hono's error handling. */
    onScanError?: 'reject' | 'next'
  }
  /** `c.get('pompelmi')` once every file is Clean. */
  type HonoEnv = { Variables: { pompelmi: pompelmi.MiddlewareResult } }
  function pompelmiMiddleware(options?: HonoOptions | null): MiddlewareHandler<HonoEnv>
  const pompelmi: typeof pompelmiMiddleware
}

export = pompelmiHono
