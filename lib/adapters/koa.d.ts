// Types of pompelmi/koa: middleware after @koa/multer. Koa ships no types of its own; these need
// none (a Koa middleware is `(ctx, next) => Promise`), so @types/koa is not required.
import pompelmi = require('../../index.js')

declare namespace pompelmiKoa {
  interface KoaOptions extends pompelmi.ScanOptions {
    /** `'reject'` answers 422 (default); `'next'` throws the 422 error (`status` 422) to Koa's error handling. */
    onScanError?: 'reject' | 'next'
  }
  /** What the middleware reads and writes on Koa's context: `ctx.state.pompelmi` once every file is Clean. */
  interface KoaContextLike {
    file?: unknown
    files?: unknown
    request: { file?: unknown; files?: unknown }
    state: { pompelmi?: pompelmi.MiddlewareResult } & Record<string, any>
    status: number
    body: unknown
  }
  type KoaMiddleware = (ctx: KoaContextLike, next: () => Promise<unknown>) => Promise<unknown>
  const pompelmi: typeof pompelmiKoa
}

declare function pompelmiKoa(options?: pompelmiKoa.KoaOptions | null): pompelmiKoa.KoaMiddleware
export = pompelmiKoa
