'use strict'
// generateScorecard: pompelmi 1.x's upload-security scorecard, same checks, weights and grades.

const CHECKS = [
  ['scanEnabled', 30, (c) => c.scanEnabled === true, 'Enable malware scanning of every upload.'],
  ['mimeTypeAllowlist', 20, (c) => Array.isArray(c.mimeTypeAllowlist) && c.mimeTypeAllowlist.length > 0, 'Restrict uploads to an allowlist of MIME types.'],
  ['fileSizeLimit', 10, (c) => typeof c.fileSizeLimit === 'number' && c.fileSizeLimit > 0, 'Set a maximum upload size.'],
  ['diskWriteBeforeScan', 15, (c) => c.diskWriteBeforeScan === false, 'Scan uploads before writing them to disk (scanBuffer / scanStream).'],
  ['scanErrorBehavior', 10, (c) => c.scanErrorBehavior === 'reject', "Reject uploads whose scan ends in ScanError (scanErrorBehavior: 'reject')."],
  ['clamdUnavailableBehavior', 10, (c) => c.clamdUnavailableBehavior === 'reject', "Reject uploads when clamd is unreachable (clamdUnavailableBehavior: 'reject')."],
  ['tlsEnabled', 5, (c) => c.tlsEnabled === true, 'Serve uploads over TLS.'],
]

function grade(score) {
  return score >= 90 ? 'A' : score >= 75 ? 'B' : score >= 60 ? 'C' : score >= 45 ? 'D' : 'F'
}

module.exports = function scorecardFactory() {
  return async function generateScorecard(config) {
    const c = config || {}
    const findings = CHECKS.map(([check, weight, passes]) => ({ check, status: passes(c) ? 'pass' : 'fail', weight }))
    const earned = findings.reduce((sum, f) => sum + (f.status === 'pass' ? f.weight : 0), 0)
    const score = Math.round((earned / 100) * 100)
    const recommendations = CHECKS.filter((_, i) => findings[i].status === 'fail').map(([, , , advice]) => advice)
    return { grade: grade(score), score, findings, recommendations }
  }
}
