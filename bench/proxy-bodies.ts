/** The request bodies bench:proxy's load rotates over (both load generators), one list per mode. */
export const proxyBodies = (stream: boolean): string[] =>
  Array.from({ length: 64 }, (_, i) => JSON.stringify({ model: 'fixture-model', messages: [{ role: 'user', content: `benchmark request ${i} about routing` }], max_tokens: 16, stream }));
