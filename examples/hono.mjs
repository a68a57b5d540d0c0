// Hono + pompelmi/hono: every File of the form is scanned before the handler; 403 for a malicious
// file, 422 when one cannot be scanned. The same app runs on Node (@hono/node-server), Bun and Deno.
// Run: CLAMAV_SOCKET=/tmp/pompelmi-clamd/main/clamd.sock node examples/hono.mjs
import { Hono } from 'hono'
import { pompelmiMiddleware } from 'pompelmi/hono'

export function createApp(clamd) {
  const app = new Hono()
  app.post('/upload', pompelmiMiddleware(clamd), async (c) => {
    // Only clean uploads get here; the parsed body is cached, so it can be read again.
    const body = await c.req.parseBody({ all: true })
    return c.json({ verdict: c.get('pompelmi').verdict.description, fields: Object.keys(body) })
  })
  return app
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { serve } = await import('@hono/node-server')
  const clamd = process.env.CLAMAV_SOCKET ? { socket: process.env.CLAMAV_SOCKET } : { host: process.env.CLAMAV_HOST || '127.0.0.1', port: Number(process.env.CLAMAV_PORT) || 3310 }
  serve({ fetch: createApp(clamd).fetch, port: Number(process.env.PORT) || 3000 })
}
