// Compares two versions of a text line by line for the side-by-side view.

/** One row of a side-by-side comparison. */
export interface DiffRow {
  kind: "same" | "removed" | "added" | "changed";
  left: string | null;
  right: string | null;
}

/** Most lines compared with the exact method; longer texts compare in blocks. */
const DIFF_EXACT_LINES = 4_000;

/**
 * Compares two texts line by line (longest common subsequence) and pairs the
 * removed and added lines of each changed block side by side.
 */
export function diffLines(before: string, after: string): DiffRow[] {
  const a = before.split("\n");
  const b = after.split("\n");
  if (a.length > DIFF_EXACT_LINES || b.length > DIFF_EXACT_LINES) {
    // Too long for the quadratic table: show the texts as one changed block.
    return pairBlock(a, b);
  }
  // lengths[i][j]: the longest common subsequence of a[i..] and b[j..].
  const lengths: Uint32Array[] = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lengths[i][j] = a[i] === b[j] ? lengths[i + 1][j + 1] + 1 : Math.max(lengths[i + 1][j], lengths[i][j + 1]);
    }
  }
  const rows: DiffRow[] = [];
  let removed: string[] = [];
  let added: string[] = [];
  const flush = () => {
    rows.push(...pairBlock(removed, added));
    removed = [];
    added = [];
  };
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      flush();
      rows.push({ kind: "same", left: a[i], right: b[j] });
      i++;
      j++;
    } else if (j < b.length && (i === a.length || lengths[i][j + 1] >= lengths[i + 1][j])) {
      added.push(b[j++]);
    } else {
      removed.push(a[i++]);
    }
  }
  flush();
  return rows;
}

function pairBlock(removed: string[], added: string[]): DiffRow[] {
  const rows: DiffRow[] = [];
  for (let k = 0; k < Math.max(removed.length, added.length); k++) {
    const left = k < removed.length ? removed[k] : null;
    const right = k < added.length ? added[k] : null;
    rows.push({ kind: left !== null && right !== null ? "changed" : left !== null ? "removed" : "added", left, right });
  }
  return rows;
}
