/**
 * How validation speaks. Every message says what is wrong in the field's own terms and names the documented bound
 * ("must be at most 1000000"), never a validator's internals ("Invalid input: expected int, received number"). The
 * error map below covers every schema; a schema's own message, where it has one, still wins. Messages never contain
 * the submitted value.
 */
import { type core, z } from "zod";

const TYPE_NAMES: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  bigint: "an integer",
  boolean: "true or false",
  array: "a list",
  object: "an object",
  date: "a date",
};

type Issue = core.$ZodRawIssue;

function describe(issue: Issue): string | undefined {
  switch (issue.code) {
    case "invalid_type":
      return issue.input === undefined ? "is required" : `must be ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
    case "too_big":
      if (issue.origin === "string") return `must be at most ${issue.maximum} characters`;
      if (issue.origin === "array" || issue.origin === "set") return `must list at most ${issue.maximum} items`;
      return `must be at most ${issue.maximum}`;
    case "too_small":
      if (issue.origin === "string")
        return issue.minimum === 1 ? "must not be empty" : `must be at least ${issue.minimum} characters`;
      if (issue.origin === "array" || issue.origin === "set") return `must list at least ${issue.minimum} items`;
      return `must be at least ${issue.minimum}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((value: unknown) => String(value)).join(", ")}`;
    case "invalid_format":
      return issue.format === "regex" ? "is not in the expected format" : `must be a valid ${issue.format}`;
    case "invalid_union":
      return "is not valid";
    case "not_multiple_of":
      return `must be a multiple of ${issue.divisor}`;
    default:
      return undefined;
  }
}

z.config({ customError: describe });

/**
 * A whole number within documented bounds, with one message for every way to miss them (a fraction, a number past
 * the safe integers, a string), so 1e300 is told "must be an integer from 1 to 1000000".
 */
export function integerFrom(min: number, max: number) {
  const message = `must be an integer from ${min} to ${max}`;
  return z.number({ message }).int({ message }).min(min, { message }).max(max, { message });
}

/** The same for a value that arrives as text (query strings, environment variables). */
export function integerTextFrom(min: number, max: number) {
  const message = `must be an integer from ${min} to ${max}`;
  return z.coerce.number({ message }).int({ message }).min(min, { message }).max(max, { message });
}
