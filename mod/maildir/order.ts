/**
 * The two message orders a POP3 session can list a Maildir in:
 * - "delivery": by the time and microseconds in the unique name (`time.M<usec>P<pid>.host`),
 *   which is the order messages arrived in, whatever happened to the files since;
 * - "qmail": exactly as qmail-pop3d lists them: a binary heap keyed by mtime in whole
 *   seconds (qmail's prioq.c), filled in directory order, so ties come out as its heap does.
 */

/** What ordering needs to know of a message. */
export interface Orderable {
  name: string;
  mtimeMs: number;
}

const UNIQUE_TIME = /^([0-9]{1,15})\.(?:[^.]*?M([0-9]{1,9}))?/;

interface DeliveryKey {
  sec: number;
  usec: number;
}

function deliveryKey(item: Orderable): DeliveryKey {
  const match = UNIQUE_TIME.exec(item.name);
  if (!match) return { sec: Math.floor(item.mtimeMs / 1000), usec: Math.floor((item.mtimeMs % 1000) * 1000) };
  return { sec: Number(match[1]), usec: match[2] === undefined ? -1 : Number(match[2]) };
}

/** Sorts in delivery order: name time, then microseconds, then mtime, then name (stable, total). */
export function sortByDelivery<T extends Orderable>(items: T[]): T[] {
  const keyed = items.map((item) => ({ item, key: deliveryKey(item) }));
  keyed.sort((a, b) =>
    a.key.sec - b.key.sec ||
    a.key.usec - b.key.usec ||
    a.item.mtimeMs - b.item.mtimeMs ||
    (a.item.name < b.item.name ? -1 : a.item.name > b.item.name ? 1 : 0));
  return keyed.map((k) => k.item);
}

/**
 * qmail-pop3d's order: items inserted, in the given (directory) order, into qmail's
 * prioq keyed by mtime seconds, then taken out by repeated delete-min. Reproduces
 * prioq.c's insert and delmin step by step, so equal mtimes come out as qmail's do.
 */
export function sortLikeQmail<T extends Orderable>(items: T[]): T[] {
  const heap: { dt: number; item: T }[] = [];
  for (const item of items) {
    const pe = { dt: Math.floor(item.mtimeMs / 1000), item };
    let j = heap.length;
    heap.push(pe);
    while (j > 0) {
      const i = Math.floor((j - 1) / 2);
      if (heap[i].dt <= pe.dt) break;
      heap[j] = heap[i];
      j = i;
    }
    heap[j] = pe;
  }
  const out: T[] = [];
  while (heap.length > 0) {
    out.push(heap[0].item);
    const n = heap.length - 1;
    let i = 0;
    for (;;) {
      let j = i + i + 2;
      if (j > n) break;
      if (heap[j - 1].dt <= heap[j].dt) --j;
      if (heap[n].dt <= heap[j].dt) break;
      heap[i] = heap[j];
      i = j;
    }
    heap[i] = heap[n];
    heap.length = n;
  }
  return out;
}
