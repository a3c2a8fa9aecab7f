import { EventHeap } from '../../util/heap.js';

/**
 * Approximate radix tree of routed prompts, SGLang cache-aware style: ONE tree merged over all
 * workers ("tenants"), each node remembering which tenants were sent a prompt through it and
 * when (a logical tick, so runs are deterministic). It records routing decisions, not the
 * engines' real cache state.
 *
 * Invariant: a tenant on a node is also on every ancestor (insert adds the whole path; eviction
 * removes leaf-first), so the tenants of the deepest matched node all hold the whole match.
 *
 * Memory bound: each tenant's character count (sum of edge lengths of the nodes it is on) is
 * kept at or below `maxChars`. SGLang runs `evict_tenant_by_size(max_tree_size)` on a timer thread
 * every `eviction_interval` seconds; a router without timers evicts synchronously instead: when an
 * insert pushes a tenant over `maxChars`, its least-recently-used leaves go until it is at
 * `lowWater × maxChars` (hysteresis, so eviction runs once per many inserts, not on each). Total
 * memory is therefore bounded by tenants × maxChars characters plus node overhead, and never by
 * the trace length.
 */
export class TreeNode {
  edge: string;
  parent: TreeNode | null;
  children: Map<number, TreeNode> | null = null;
  /** tenant → tick of its last insert through this node. */
  readonly tenants = new Map<number, number>();
  constructor(edge: string, parent: TreeNode | null) {
    this.edge = edge;
    this.parent = parent;
  }
}

export interface TreeMatch {
  /** Key units matched along the path to `node` (partial edges count). */
  matched: number;
  /** Deepest node on the match path that has an eligible tenant; null when none matched. */
  node: TreeNode | null;
}

interface EvictItem {
  time: number;
  seq: number;
  node: TreeNode;
}

export class RadixTree {
  readonly root = new TreeNode('', null);
  private readonly chars: number[] = [];
  private tick = 0;
  private nodes = 1;
  evictions = 0;

  constructor(
    readonly maxChars: number,
    readonly lowWater = 0.9,
  ) {}

  /** Characters held for a tenant. */
  tenantChars(tenant: number): number {
    return this.chars[tenant] ?? 0;
  }

  get nodeCount(): number {
    return this.nodes;
  }

  /**
   * Longest match of `key`; `eligible(tenant)` limits which tenants count (healthy candidates).
   * The returned length is where the deepest node with an eligible tenant stops matching.
   */
  match(key: string, eligible: (tenant: number) => boolean): TreeMatch {
    let node = this.root;
    let pos = 0;
    let best: TreeNode | null = null;
    let bestLen = 0;
    const n = key.length;
    while (pos < n) {
      const child = node.children?.get(key.charCodeAt(pos));
      if (!child) break;
      const edge = child.edge;
      let l: number;
      if (edgeMatches(key, pos, edge)) l = edge.length;
      else l = commonLength(key, pos, edge);
      if (!hasEligible(child, eligible)) break;
      pos += l;
      best = child;
      bestLen = pos;
      if (l < edge.length) break;
      node = child;
    }
    return { matched: bestLen, node: best };
  }

  /**
   * Per-tenant match lengths: `out[t]` = key units of `key` that tenant `t` holds, for every
   * eligible tenant on the match path (others are left untouched; callers zero them first).
   */
  matchByTenant(key: string, eligible: (tenant: number) => boolean, out: number[]): void {
    let node = this.root;
    let pos = 0;
    const n = key.length;
    while (pos < n) {
      const child = node.children?.get(key.charCodeAt(pos));
      if (!child) break;
      const edge = child.edge;
      const l = edgeMatches(key, pos, edge) ? edge.length : commonLength(key, pos, edge);
      pos += l;
      for (const t of child.tenants.keys()) if (eligible(t)) out[t] = pos;
      if (l < edge.length) break;
      node = child;
    }
  }

  /** Records that `key` was routed to `tenant`; may evict that tenant's LRU leaves. */
  insert(key: string, tenant: number): void {
    if (key.length === 0) return;
    const t = ++this.tick;
    if (this.chars[tenant] === undefined) {
      for (let i = this.chars.length; i <= tenant; i++) this.chars[i] = 0;
    }
    let node = this.root;
    let pos = 0;
    const n = key.length;
    while (pos < n) {
      const c = key.charCodeAt(pos);
      let child = node.children?.get(c);
      if (!child) {
        child = new TreeNode(key.slice(pos), node);
        (node.children ??= new Map()).set(c, child);
        this.nodes++;
        this.touch(child, tenant, t);
        break;
      }
      const edge = child.edge;
      const l = edgeMatches(key, pos, edge) ? edge.length : commonLength(key, pos, edge);
      if (l < edge.length) child = this.split(child, l);
      this.touch(child, tenant, t);
      pos += l;
      node = child;
    }
    if (this.chars[tenant] > this.maxChars) this.evictTenant(tenant, Math.floor(this.maxChars * this.lowWater));
  }

  /** Tenant entries over all nodes, by tenant (leak tests; walks the whole tree). */
  tenantEntries(): Map<number, number> {
    const out = new Map<number, number>();
    const stack: TreeNode[] = [this.root];
    while (stack.length > 0) {
      const nd = stack.pop() as TreeNode;
      for (const t of nd.tenants.keys()) out.set(t, (out.get(t) ?? 0) + 1);
      if (nd.children) for (const ch of nd.children.values()) stack.push(ch);
    }
    return out;
  }

  /** Drops a tenant everywhere (worker removed). */
  removeTenant(tenant: number): void {
    const stack: TreeNode[] = [this.root];
    const emptied: TreeNode[] = [];
    while (stack.length > 0) {
      const nd = stack.pop() as TreeNode;
      if (nd.children) for (const ch of nd.children.values()) if (ch.tenants.has(tenant)) stack.push(ch);
      if (nd !== this.root && nd.tenants.delete(tenant) && nd.tenants.size === 0) emptied.push(nd);
    }
    // Children before parents (DFS pushes parents first), so unlinking bottom-up frees whole branches.
    for (let i = emptied.length - 1; i >= 0; i--) this.unlinkIfDead(emptied[i]);
    this.chars[tenant] = 0;
  }

  /** Evicts `tenant`'s least-recently-used leaves until it holds at most `target` characters. */
  evictTenant(tenant: number, target: number): void {
    const heap = new EventHeap<EvictItem>();
    let seq = 0;
    const stack: TreeNode[] = [this.root];
    while (stack.length > 0) {
      const nd = stack.pop() as TreeNode;
      let leaf = nd !== this.root;
      if (nd.children) {
        for (const ch of nd.children.values()) {
          if (ch.tenants.has(tenant)) {
            leaf = false;
            stack.push(ch);
          }
        }
      }
      if (leaf) heap.push({ time: nd.tenants.get(tenant) as number, seq: seq++, node: nd });
    }
    while (this.chars[tenant] > target && heap.size > 0) {
      const { node } = heap.pop() as EvictItem;
      node.tenants.delete(tenant);
      this.chars[tenant] -= node.edge.length;
      this.evictions++;
      const parent = node.parent as TreeNode;
      if (node.tenants.size === 0) this.unlinkIfDead(node);
      if (parent !== this.root && parent.tenants.has(tenant) && !childHas(parent, tenant)) {
        heap.push({ time: parent.tenants.get(tenant) as number, seq: seq++, node: parent });
      }
    }
  }

  private touch(node: TreeNode, tenant: number, t: number): void {
    if (!node.tenants.has(tenant)) this.chars[tenant] += node.edge.length;
    node.tenants.set(tenant, t);
  }

  /** Splits `node`'s edge after `at` units; the new upper node inherits the tenants. */
  private split(node: TreeNode, at: number): TreeNode {
    const parent = node.parent as TreeNode;
    const upper = new TreeNode(node.edge.slice(0, at), parent);
    for (const [k, v] of node.tenants) upper.tenants.set(k, v);
    node.edge = node.edge.slice(at);
    node.parent = upper;
    upper.children = new Map([[node.edge.charCodeAt(0), node]]);
    (parent.children as Map<number, TreeNode>).set(upper.edge.charCodeAt(0), upper);
    this.nodes++;
    return upper;
  }

  /** Removes a tenantless leaf, and tenantless ancestors it leaves childless. */
  private unlinkIfDead(node: TreeNode): void {
    let nd: TreeNode | null = node;
    while (nd && nd !== this.root && nd.tenants.size === 0 && (!nd.children || nd.children.size === 0)) {
      const parent = nd.parent as TreeNode;
      parent.children?.delete(nd.edge.charCodeAt(0));
      nd.parent = null;
      this.nodes--;
      nd = parent;
    }
  }
}

/**
 * Whether `edge` occurs in `key` at `pos`. `String.prototype.startsWith` compares one character
 * per step (~3 ns each in V8); equality of two substrings compares memory (~0.3 ns per char), so
 * long edges are compared with `===` instead.
 */
function edgeMatches(key: string, pos: number, edge: string): boolean {
  const n = edge.length;
  if (pos + n > key.length) return false;
  if (n <= 16) return key.startsWith(edge, pos);
  return key.charCodeAt(pos + n - 1) === edge.charCodeAt(n - 1) && key.substring(pos, pos + n) === edge;
}

/** Length of the common prefix of `key[pos..]` and `edge`: 64-character blocks by `===`, then per character. */
function commonLength(key: string, pos: number, edge: string): number {
  const m = Math.min(edge.length, key.length - pos);
  let i = 0;
  while (i + 64 <= m && key.substring(pos + i, pos + i + 64) === edge.substring(i, i + 64)) i += 64;
  while (i < m && key.charCodeAt(pos + i) === edge.charCodeAt(i)) i++;
  return i;
}

function hasEligible(node: TreeNode, eligible: (tenant: number) => boolean): boolean {
  for (const t of node.tenants.keys()) if (eligible(t)) return true;
  return false;
}

function childHas(node: TreeNode, tenant: number): boolean {
  if (node.children) for (const ch of node.children.values()) if (ch.tenants.has(tenant)) return true;
  return false;
}
