import { UserError } from '../../util/errors.js';
import { KubernetesDiscovery, type KubernetesDiscoveryOptions } from './kubernetes.js';
import { ServeFleet, type FleetHost } from './serve-fleet.js';

/**
 * Wires Kubernetes discovery to serve (not started yet: call `start()` once serve listens).
 * Loaded on demand: the client library costs startup time serve without it should not pay.
 */
export function createKubernetesDiscovery(host: FleetHost, o: KubernetesDiscoveryOptions): KubernetesDiscovery {
  let d: KubernetesDiscovery;
  try {
    d = new KubernetesDiscovery(new ServeFleet(host, o.log), o);
  } catch (err) {
    throw new UserError(`--k8s-selector: cannot load the Kubernetes client configuration (KUBECONFIG, ~/.kube/config or the in-cluster service account): ${(err as Error).message.split('\n')[0]}`);
  }
  return d;
}
