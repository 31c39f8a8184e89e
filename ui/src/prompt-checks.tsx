// A prompt's checks (validators): the Checks section of the prompt editor,
// what is checked before saving, and what the checks say of each version.
import { MAX_PATTERN_CHARS, MAX_SCHEMA_BYTES, MAX_VALIDATORS_PER_PROMPT, type PromptValidator, type ValidationFailure, type ValidatorTarget } from "./api";

type ValidatorKind = PromptValidator["kind"];

const VALIDATOR_KINDS: [ValidatorKind, string][] = [
  ["regex", "Regex"],
  ["length", "Length"],
  ["contains", "Contains"],
  ["json_schema", "JSON schema"],
];

const VALIDATOR_TARGETS: [ValidatorTarget, string][] = [
  ["output", "Each answer given with it"],
  ["content", "The prompt text, on save"],
];

/** The first problem with a prompt's checks before they are saved, or null
 * (the limits of orrery_domain::validator). */
export function checkValidators(validators: PromptValidator[]): string | null {
  if (validators.length > MAX_VALIDATORS_PER_PROMPT) return `A prompt has at most ${MAX_VALIDATORS_PER_PROMPT} checks.`;
  for (const [index, validator] of validators.entries()) {
    const problem = checkValidator(validator);
    if (problem) return `Check ${index + 1}: ${problem}`;
  }
  return null;
}

function checkValidator(validator: PromptValidator): string | null {
  const bounded = (what: string, text: string) => {
    if (text.length === 0) return `the ${what} is empty.`;
    if ([...text].length > MAX_PATTERN_CHARS) return `the ${what} is at most ${MAX_PATTERN_CHARS} characters.`;
    return null;
  };
  switch (validator.kind) {
    case "regex": {
      const problem = bounded("pattern", validator.pattern);
      if (problem) return problem;
      return null;
    }
    case "length": {
      const { min, max } = validator;
      if (min === null && max === null) return "give a minimum, a maximum or both.";
      for (const bound of [min, max]) {
        if (bound !== null && (!Number.isInteger(bound) || bound < 0)) return "lengths are whole numbers of characters, 0 or more.";
      }
      if (min !== null && max !== null && min > max) return `the minimum (${min}) is larger than the maximum (${max}).`;
      return null;
    }
    case "contains":
      return bounded("text to look for", validator.text);
    case "json_schema": {
      const schema = validator.schema;
      if (typeof schema !== "boolean" && (typeof schema !== "object" || schema === null || Array.isArray(schema)))
        return "a JSON schema is an object, like {\"type\": \"object\"}.";
      if (new TextEncoder().encode(JSON.stringify(schema)).length > MAX_SCHEMA_BYTES)
        return `a schema is at most ${MAX_SCHEMA_BYTES / 1024} KiB of JSON.`;
      return null;
    }
  }
}


/** A check as its row in the editor holds it: every field as typed. */
export interface CheckRow {
  /** Keeps the row's inputs when an earlier row is removed. */
  key: number;
  target: ValidatorTarget;
  kind: ValidatorKind;
  pattern: string;
  min: string;
  max: string;
  text: string;
  ignoreCase: boolean;
  schema: string;
}

let rowsMade = 0;

/** A new check of `kind`, its fields empty (a schema starts as any object). */
function blankRow(kind: ValidatorKind, target: ValidatorTarget): CheckRow {
  const schema = JSON.stringify({ type: "object" }, null, 2);
  return { key: ++rowsMade, target, kind, pattern: "", min: "", max: "", text: "", ignoreCase: false, schema };
}

/** A saved check as a row of the editor. */
export function checkRow(validator: PromptValidator): CheckRow {
  const row = blankRow(validator.kind, validator.target);
  switch (validator.kind) {
    case "regex":
      return { ...row, pattern: validator.pattern };
    case "length":
      return { ...row, min: validator.min === null ? "" : String(validator.min), max: validator.max === null ? "" : String(validator.max) };
    case "contains":
      return { ...row, text: validator.text, ignoreCase: validator.ignore_case };
    case "json_schema":
      return { ...row, schema: JSON.stringify(validator.schema, null, 2) };
  }
}

/** A number field: blank is none. */
function readBound(text: string): number | null {
  return text.trim().length === 0 ? null : Number(text.trim());
}

function readRow(row: CheckRow, number: number): { value: PromptValidator } | { error: string } {
  const { target } = row;
  switch (row.kind) {
    case "regex":
      return { value: { target, kind: "regex", pattern: row.pattern } };
    case "length":
      return { value: { target, kind: "length", min: readBound(row.min), max: readBound(row.max) } };
    case "contains":
      return { value: { target, kind: "contains", text: row.text, ignore_case: row.ignoreCase } };
    case "json_schema":
      try {
        return { value: { target, kind: "json_schema", schema: JSON.parse(row.schema) } };
      } catch (error) {
        return { error: `Check ${number}: the schema is not JSON (${(error as Error).message}).` };
      }
  }
}

/** The checks the rows describe, or the first problem with them. */
export function readChecks(rows: CheckRow[]): { value: PromptValidator[] } | { error: string } {
  const value: PromptValidator[] = [];
  for (const [index, row] of rows.entries()) {
    const read = readRow(row, index + 1);
    if ("error" in read) return read;
    value.push(read.value);
  }
  const problem = checkValidators(value);
  return problem ? { error: problem } : { value };
}

/** The Checks section of the prompt editor: one row per check. */
export function ChecksEditor({ rows, onRows }: { rows: CheckRow[]; onRows: (rows: CheckRow[]) => void }) {
  return (
    <fieldset class="checks">
      <legend>Checks</legend>
      <p class="hint">
        Checks on the prompt text run on every save (a version that fails them is not published); checks on answers run on every
        answer an agent gives with this prompt.
      </p>
      <ol class="check-list">
        {rows.map((row, index) => (
          <CheckLine
            key={row.key}
            row={row}
            number={index + 1}
            change={(change) => onRows(rows.map((other) => (other === row ? { ...row, ...change } : other)))}
            remove={() => onRows(rows.filter((other) => other !== row))}
          />
        ))}
      </ol>
      <button type="button" class="quiet" onClick={() => onRows([...rows, blankRow("contains", "output")])}>Add check</button>
    </fieldset>
  );
}

function CheckLine(props: { row: CheckRow; number: number; change: (change: Partial<CheckRow>) => void; remove: () => void }) {
  const { row, change } = props;
  const label = (what: string) => `Check ${props.number} ${what}`;
  const input = (what: string, field: "pattern" | "text" | "min" | "max", placeholder?: string) => {
    const attributes = {
      "aria-label": label(what),
      autocomplete: "off",
      placeholder,
      value: row[field],
      onInput: (event: { currentTarget: HTMLInputElement }) => change({ [field]: event.currentTarget.value }),
    };
    return field === "min" || field === "max" ? <input type="number" {...attributes} /> : <input type="text" {...attributes} />;
  };
  return (
    <li class="check">
      {/* Another kind starts blank. */}
      <select
        aria-label={label("kind")}
        value={row.kind}
        onChange={(event) => change({ ...blankRow(event.currentTarget.value as ValidatorKind, row.target), key: row.key })}
      >
        {VALIDATOR_KINDS.map(([value, name]) => (
          <option value={value}>{name}</option>
        ))}
      </select>
      <select aria-label={label("applies to")} value={row.target} onChange={(event) => change({ target: event.currentTarget.value as ValidatorTarget })}>
        {VALIDATOR_TARGETS.map(([value, name]) => (
          <option value={value}>{name}</option>
        ))}
      </select>
      <span class="check-fields">
        {row.kind === "regex" && input("pattern", "pattern", "^Answer:")}
        {row.kind === "length" && (
          <>
            {input("minimum", "min", "min")}
            <span>to</span>
            {input("maximum", "max", "max")}
            <span>characters</span>
          </>
        )}
        {row.kind === "contains" && (
          <>
            {input("text", "text")}
            <label class="check-inline">
              <input type="checkbox" aria-label={label("ignores case")} checked={row.ignoreCase} onChange={(event) => change({ ignoreCase: event.currentTarget.checked })} />
              <span>Ignore case</span>
            </label>
          </>
        )}
        {row.kind === "json_schema" && (
          <textarea rows={3} aria-label={label("schema")} value={row.schema} onInput={(event) => change({ schema: event.currentTarget.value })} />
        )}
      </span>
      <button type="button" class="quiet" onClick={props.remove}>{`Remove check ${props.number}`}</button>
    </li>
  );
}

/** What a version's checks say: each failure, or that it passes. */
export function VersionChecks({ failures, contentChecks }: { failures: ValidationFailure[] | undefined; contentChecks: number }) {
  if (failures && failures.length > 0) {
    return (
      <div class="failures" data-testid="version-failures">
        <strong>{failures.length === 1 ? "Fails 1 check" : `Fails ${failures.length} checks`}</strong>
        <ul>
          {failures.map((failure) => (
            <li>{`${failure.validator}: ${failure.reason}`}</li>
          ))}
        </ul>
      </div>
    );
  }
  return contentChecks > 0 ? <small class="passes">Passes its checks</small> : null;
}
