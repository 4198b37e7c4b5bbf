/** The help texts, printed from the command table and the configuration table (loaded only when help is asked). */
import { CONFIG_SETTINGS, type ConfigSetting } from "../config.ts";
import { VERSION } from "../version.ts";
import type { Command } from "./command.ts";

function describeSetting(setting: ConfigSetting): string {
  const names = `${(setting.flag ?? "(env only)").padEnd(20)} ${setting.env.padEnd(26)}`;
  return `  ${names} ${setting.defaultText}\n      ${setting.description}`;
}

export function settingsOf(command: Command): readonly ConfigSetting[] {
  const wanted = command.settings;
  return wanted === "all" ? CONFIG_SETTINGS : CONFIG_SETTINGS.filter((setting) => wanted.includes(setting.key));
}

/** The settings table of --help: flag, variable, default, and what each does. */
function settingsHelp(settings: readonly ConfigSetting[]): string[] {
  return settings.length === 0
    ? []
    : ["", "Settings (flag, environment variable, default):", ...settings.map(describeSetting)];
}

export function commandHelp(command: Command, version: string): string {
  return [
    `latchkey ${version}: ${command.summary}`,
    "",
    "Usage:",
    ...command.usage.map((form) => `  latchkey ${form}`),
    ...(command.details ?? []).flatMap((paragraph) => ["", paragraph]),
    ...settingsHelp(settingsOf(command)),
    "",
  ].join("\n");
}

const listed = (command: Command) =>
  `${command.usage.map((form) => `  latchkey ${form}`).join("\n")}\n      ${command.summary}`;

/** `latchkey --help`: every command, then every setting. */
export function overviewHelp(commands: readonly Command[]): string {
  return `latchkey ${VERSION}: self-hosted auth for APIs (keys, session tokens, CLI login, verification)

Usage:
${commands.map(listed).join("\n")}
  latchkey --help
      this text; latchkey <command> --help: that command's flags and settings

Operating it in production (backups, upgrades, the master key, alerts): docs/operations.md
${settingsHelp(CONFIG_SETTINGS).join("\n")}
`;
}
