import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { RequestLifecycle, type LifecycleHost } from '../../src/serve/lifecycle.js';

/** Just what a lifecycle that is answered by serve itself touches of its response. */
function fakeResponse(): { res: ServerResponse; sent: { status?: number; body?: string } } {
  const sent: { status?: number; body?: string } = {};
  const res = {
    headersSent: false,
    writableEnded: false,
    writableFinished: false,
    destroyed: false,
    on: () => res,
    off: () => res,
    writeHead(status: number) {
      sent.status = status;
      res.headersSent = true;
      return res;
    },
    end(body?: string) {
      sent.body = body;
      res.writableEnded = true;
      return res;
    },
  };
  return { res: res as unknown as ServerResponse, sent };
}

function host(nowS: () => number, finished: RequestLifecycle[]): LifecycleHost {
  return {
    draining: false,
    workerHeader: false,
    maxAttempts: 1,
    firstByteTimeoutMs: 0,
    nowS,
    retryDelayMs: () => 1,
    route: () => undefined,
    release: () => undefined,
    onFirstByte: () => undefined,
    onResponseHead: () => undefined,
    onRetry: () => undefined,
    onFinish: (lc) => finished.push(lc),
  };
}

test('request deadline: overdue from arrival + timeout exactly, and checkDeadlines answers 504 once', () => {
  let now = 10;
  const finished: RequestLifecycle[] = [];
  const { res, sent } = fakeResponse();
  // Arrived at t = 10 s with a 500 ms timeout: due at 10,500 ms of the clock, not a millisecond before.
  const lc = new RequestLifecycle(host(() => now, finished), res, 'inference', 'POST', '/v1/chat/completions', {}, undefined, { id: '1', arrivalS: 10, inputTokens: 1, outputTokens: 1 }, false, 10, 500);
  assert.equal(lc.overdue(10_499.999), false);
  lc.checkDeadlines(10_499.999);
  assert.equal(lc.phase, 'routing');
  assert.equal(finished.length, 0);
  assert.equal(lc.overdue(10_500), true);
  now = 10.5;
  lc.checkDeadlines(10_500);
  assert.equal(lc.phase, 'done');
  assert.equal(lc.end, 'timeout');
  assert.equal(sent.status, 504);
  assert.equal((JSON.parse(sent.body ?? '{}') as { error: { code: string } }).error.code, 'timeout');
  assert.equal(finished.length, 1);
  assert.equal(lc.endS, 10.5);
  lc.checkDeadlines(20_000);
  assert.equal(finished.length, 1, 'a finished request is not ended again');
});
