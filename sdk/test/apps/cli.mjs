// A CLI built on the installed package, under Node: logs in, prints the code for the test to approve, saves the key.
import { cliLogin } from "@latchkey/sdk";
import { saveKeyFile } from "@latchkey/sdk/node";

const { apiKey } = await cliLogin({
  baseUrl: process.env.LATCHKEY_URL,
  deviceName: "node-cli",
  scopes: ["runs:read"],
  onCode: ({ userCode }) => console.log(`code ${userCode}`),
  save: (key) => saveKeyFile(process.env.KEY_FILE, key),
});
console.log(`saved ${apiKey.slice(0, 8)}`);
