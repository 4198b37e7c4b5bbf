/** The version this binary reports, in a file of its own: `latchkey version` loads nothing else. */
import packageJson from "../../package.json" with { type: "json" };

export const VERSION: string = packageJson.version;
