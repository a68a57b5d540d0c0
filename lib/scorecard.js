'use strict'
// generateScorecard: pompelmi 1.x's upload-security scorecard: the same checks, weights, grades,
// finding labels and recommendation texts (users display and match on them). Each finding also
// carries `key`, the config key it checks (an addition).

// [key, label, weight, passes, recommendation]
const CHECKS = [
  ['scanEnabled', 'Virus scanning enabled', 30, (c) => c.scanEnabled === true, 'Enable virus scanning by integrating pompelmi into your upload handler.'],
  ['mimeTypeAllowlist', 'MIME type allowlist', 20, (c) => Array.isArray(c.mimeTypeAllowlist) && c.mimeTypeAllowlist.length > 0, 'Define an explicit MIME type allowlist to reject unexpected file types.'],
  ['fileSizeLimit', 'File size limit', 10, (c) => typeof c.fileSizeLimit === 'number' && c.fileSizeLimit > 0, 'Set a maximum file size limit to prevent resource exhaustion.'],
  ['diskWriteBeforeScan', 'No disk write before scan', 15, (c) => c.diskWriteBeforeScan === false, 'Scan files in-memory before writing to disk to avoid storing malware even temporarily.'],
  ['scanErrorBehavior', 'Scan error behavior is reject', 10, (c) => c.scanErrorBehavior === 'reject', 'Set scanErrorBehavior to "reject" — failing open on scan errors is a security risk.'],
  ['clamdUnavailableBehavior', 'clamd unavailable behavior is reject', 10, (c) => c.clamdUnavailableBehavior === 'reject', 'Set clamdUnavailableBehavior to "reject" — if clamd is down, deny uploads rather than allowing them through.'],
  ['tlsEnabled', 'TLS enabled on upload endpoint', 5, (c) => c.tlsEnabled === true, 'Enable TLS (HTTPS) on your upload endpoint to protect files in transit.'],
]
const TOTAL = CHECKS.reduce((sum, [, , weight]) => sum + weight, 0)

function grade(score) {
  return score >= 90 ? 'A' : score >= 75 ? 'B' : score >= 60 ? 'C' : score >= 45 ? 'D' : 'F'
}

module.exports = async function generateScorecard(config) {
  const c = config || {}
  const results = CHECKS.map(([key, check, weight, passes, recommendation]) => ({ key, check, weight, passed: passes(c) === true, recommendation }))
  const earned = results.reduce((sum, r) => sum + (r.passed ? r.weight : 0), 0)
  const score = Math.round((earned / TOTAL) * 100)
  return {
    grade: grade(score),
    score,
    findings: results.map(({ key, check, weight, passed }) => ({ check, status: passed ? 'pass' : 'fail', weight, key })),
    recommendations: results.filter((r) => !r.passed).map((r) => r.recommendation),
  }
}
