// POST /api/upload: every File of the form is scanned before this handler runs; a malicious
// upload is answered 403 and one that cannot be scanned 422 by withScan itself.
import { withScan } from 'pompelmi/next'

// A native addon needs the Node.js runtime (the Edge runtime has no sockets and loads no addons).
export const runtime = 'nodejs'

const clamd = process.env.CLAMAV_SOCKET
  ? { socket: process.env.CLAMAV_SOCKET }
  : { host: process.env.CLAMAV_HOST || '127.0.0.1', port: Number(process.env.CLAMAV_PORT) || 3310 }

export const POST = withScan(async (request, context, { formData, pompelmi }) => {
  const names = [...formData.values()].filter((value) => typeof value !== 'string').map((file) => file.name)
  return Response.json({ stored: names, verdict: pompelmi.verdict.description })
}, clamd)
