/**
 * Numeric flags of the scripts: a mistyped `--runs 2e` must stop the script with a message, not run zero (or NaN)
 * iterations and report a pass.
 */
export function positiveNumberFlag(name: string, text: string, options: { integer?: boolean } = {}): number {
  const integer = options.integer ?? true;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    refuse(name, text, `a positive ${integer ? "integer" : "number"}`);
  }
  return value;
}

export function integerFlag(name: string, text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(value)) refuse(name, text, "an integer");
  return value;
}

function refuse(name: string, text: string, expected: string): never {
  console.error(`--${name} must be ${expected}, got "${text}"`);
  process.exit(2);
}
