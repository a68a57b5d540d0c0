'use strict'
// Waits for clamd (the user guide's readiness loop), then scans a clean buffer and EICAR.
// Runs in either Compose set-up, and locally against the private clamd:
//   CLAMAV_HOST=127.0.0.1 CLAMAV_PORT=$(cat /tmp/pompelmi-clamd/main/port) node examples/app.js
const { scan, scanBuffer, Verdict } = require(process.env.POMPELMI_MODULE || 'pompelmi')

const opts = process.env.CLAMAV_SOCKET
  ? { socket: process.env.CLAMAV_SOCKET }
  : { host: process.env.CLAMAV_HOST || '127.0.0.1', port: Number(process.env.CLAMAV_PORT) || 3310 }

async function waitForClamd(maxAttempts = 10) {
  for (let i = 0; i < maxAttempts; i++) {
    try {
      await scan('/dev/null', { ...opts, timeout: 3000 })
      return
    } catch (err) {
      console.log(`clamd not ready (${err.code || err.message}), attempt ${i + 1}/${maxAttempts}`)
      await new Promise((r) => setTimeout(r, 3000))
    }
  }
  throw new Error('clamd did not become ready in time')
}

async function main() {
  await waitForClamd()
  const eicar = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$' + 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*')
  const clean = await scanBuffer(Buffer.from('hello'), opts)
  const bad = await scanBuffer(eicar, opts)
  console.log(`clean buffer: ${clean.description}, EICAR: ${bad.description}`)
  process.exitCode = clean === Verdict.Clean && bad === Verdict.Malicious ? 0 : 1
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
