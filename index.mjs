// ESM entry: the very objects of the CommonJS module, so Verdict symbols compare equal across both.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const pompelmi = require('./index.js')

export const {
  scan,
  scanBuffer,
  scanStream,
  scanDirectory,
  Verdict,
  middleware,
  scanS3,
  createPool,
  watch,
  notify,
  createScanner,
  generateDashboard,
  generateShareCard,
  generateScorecard,
  createCache,
  createPolicy,
  createMultiEngine,
  createClient,
  Client,
  inspect,
  inspectBuffer,
  inspectStream,
  scanBlob,
  inspectBlob,
  scanFormData,
  inspectFormData,
  passthrough,
  MaliciousUploadError,
  ScanFailedError,
  ping,
  version,
  stats,
  ready,
} = pompelmi
export default pompelmi
