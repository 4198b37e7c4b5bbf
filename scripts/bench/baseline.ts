/** The baseline every figure is a ratio to: bare Bun.serve answering a small JSON body. */
const port = Number(process.argv[2] ?? 0);
const server = Bun.serve({ port, hostname: "127.0.0.1", reusePort: false, fetch: () => Response.json({ ok: true }) });
console.log(`listening ${server.port}`);
