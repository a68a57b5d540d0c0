'use strict'
// examples/kubernetes/: the manifests parse, and reference each other consistently (Service
// selectors match a Deployment's pod labels, target ports name container ports, the app points at
// the clamd Service's name and port, every mounted volume and every ConfigMap or Secret exists,
// and the stunnel sidecar forwards to clamd). Kubernetes does not run here; this checks what can
// be checked without it.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const DIR = path.join(__dirname, '..', 'examples', 'kubernetes')

/** Every document of every manifest under examples/kubernetes/, parsed by PyYAML. */
function manifests() {
  const files = fs.readdirSync(DIR, { recursive: true }).filter((f) => f.endsWith('.yaml'))
  const r = spawnSync('python3', ['-c', 'import json,sys,yaml; print(json.dumps([d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d]))', ...files.map((f) => path.join(DIR, f))], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout)
}

const docs = manifests()
const of = (kind) => docs.filter((d) => d.kind === kind)
const matches = (selector, labels) => Object.entries(selector).every(([k, v]) => labels[k] === v)

test('every Service selects a Deployment, by labels, and targets a named container port of it', () => {
  assert.ok(of('Service').length >= 2)
  for (const svc of of('Service')) {
    const deployment = of('Deployment').find((d) => matches(svc.spec.selector, d.spec.template.metadata.labels))
    assert.ok(deployment, `${svc.metadata.name}: a Deployment with its selector's labels`)
    assert.ok(matches(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels), `${deployment.metadata.name}: its selector matches its pods`)
    const ports = deployment.spec.template.spec.containers.flatMap((c) => c.ports || [])
    for (const p of svc.spec.ports) assert.ok(ports.some((cp) => cp.name === p.targetPort), `${svc.metadata.name}: port ${p.targetPort}`)
    assert.equal(svc.spec.clusterIP, 'None', `${svc.metadata.name} is headless`)
  }
})

test('clamd: the official image, ready through clamdcheck.sh, signatures in the clamav-db volume', () => {
  const clamds = of('Deployment').flatMap((d) => d.spec.template.spec.containers.filter((c) => c.image.startsWith('clamav/clamav')).map((c) => [d, c]))
  assert.ok(clamds.length >= 2)
  for (const [d, c] of clamds) {
    assert.deepEqual(c.readinessProbe.exec.command, ['clamdcheck.sh'], d.metadata.name)
    const mount = c.volumeMounts.find((m) => m.mountPath === '/var/lib/clamav')
    assert.equal(mount && mount.name, 'clamav-db')
  }
})

test('every mounted volume is declared, and every ConfigMap and Secret it names is one the manifests define or the README says to create', () => {
  const configMaps = of('ConfigMap').map((c) => c.metadata.name)
  for (const d of of('Deployment')) {
    const volumes = d.spec.template.spec.volumes || []
    for (const c of d.spec.template.spec.containers) for (const m of c.volumeMounts || []) assert.ok(volumes.some((v) => v.name === m.name), `${d.metadata.name}/${c.name}: volume ${m.name}`)
    for (const v of volumes) {
      if (v.configMap) assert.ok(configMaps.includes(v.configMap.name), `ConfigMap ${v.configMap.name}`)
      if (v.secret) assert.match(fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8'), new RegExp(`kubectl create secret [a-z]+ ${v.secret.secretName}`))
    }
  }
})

test('the app discovers the replicas behind the headless clamd Service, by name and port, with options the client takes; the stunnel sidecar accepts on its port and forwards to clamd', () => {
  const app = of('Deployment').find((d) => d.metadata.name === 'uploads').spec.template.spec.containers[0]
  const env = Object.fromEntries(app.env.map((e) => [e.name, e.value]))
  const [, host, port] = /^dns\+tcp:\/\/([a-z0-9-]+):(\d+)$/.exec(env.CLAMAV_ENDPOINT) || []
  const svc = of('Service').find((s) => s.metadata.name === host)
  assert.ok(svc, `a Service named ${host}`)
  assert.equal(svc.spec.clusterIP, 'None', 'headless: its name resolves to every ready replica')
  assert.equal(Number(port), svc.spec.ports[0].port)
  // The options exactly as the app passes them from its environment: accepted by the client.
  const client = require('..').createClient({ endpoints: [env.CLAMAV_ENDPOINT], discoverInterval: env.CLAMAV_DISCOVER_INTERVAL, maxConnectionAge: env.CLAMAV_MAX_CONNECTION_AGE })
  client.close()
  assert.ok(Number(env.CLAMAV_MAX_CONNECTION_AGE) > 0)
  const conf = of('ConfigMap').find((c) => c.metadata.name === 'clamav-stunnel').data['stunnel.conf']
  const tls = of('Deployment').find((d) => d.metadata.name === 'clamav-tls').spec.template.spec.containers.find((c) => c.name === 'stunnel')
  assert.match(conf, new RegExp(`accept = 0\\.0\\.0\\.0:${tls.ports[0].containerPort}`))
  assert.match(conf, /connect = 127\.0\.0\.1:3310/)
  assert.match(conf, /requireCert = yes/)
})
