// How counts read on screen.

/** "1 node", "0 nodes", "12 nodes". */
export function count(amount: number, noun: string): string {
  return `${amount} ${amount === 1 ? noun : `${noun}s`}`;
}
