// Types of pompelmi/prometheus: the package's metrics on a prom-client registry.
import pompelmi = require('../../index.js')

declare namespace pompelmiPrometheus {
  /** What register() needs of a registry: prom-client's Registry (or anything with registerMetric). */
  interface RegistryLike {
    registerMetric(metric: { name: string; get(): Promise<unknown> }): void
  }
  /**
   * Publishes `client.metrics()` (without a client: the top-level functions' clients) on
   * `registry` under the `pompelmi_` prefix; returns the metric names.
   */
  function register(registry: RegistryLike, client?: { metrics(): pompelmi.ClientMetrics | null }): string[]
}

export = pompelmiPrometheus
