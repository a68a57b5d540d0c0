// Types of pompelmi/next: App Router route handlers.
import pompelmi = require('../../index.js')

declare namespace pompelmiNext {
  interface NextOptions extends pompelmi.ScanOptions {
    /** `'reject'` answers 422 (default); `'next'` throws the 422 error (Next answers 500). */
    onScanError?: 'reject' | 'next'
  }
  interface Scanned {
    /** The parsed form (null for GET and HEAD). */
    formData: FormData | null
    pompelmi: pompelmi.MiddlewareResult
  }
  type ScannedHandler<C> = (request: Request, context: C, scanned: Scanned) => Response | Promise<Response>
  /** A route handler that scans every File of the form, answers 403/422 itself, and otherwise calls `handler`. */
  function withScan<C = unknown>(handler: ScannedHandler<C>, options?: NextOptions | null): (request: Request, context: C) => Promise<Response>
  const withPompelmi: typeof withScan
  const withPompelmiHandler: typeof withScan
}

export = pompelmiNext
