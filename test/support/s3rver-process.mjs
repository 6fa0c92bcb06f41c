// A real S3-protocol server (s3rver) in its own process, so tests can kill it mid-upload.
// argv: <directory> <port|0> <bucket,bucket,...>. Prints "listening <port>" once ready.
import process from "node:process";
import S3rver from "s3rver";

const [directory, port, buckets] = process.argv.slice(2);
// A request that breaks off (a client killed mid-upload) must not take the whole server down with
// it: other tests' clients are still talking to it. Say it on stderr and keep serving.
for (const event of ["uncaughtException", "unhandledRejection"]) process.on(event, (err) => process.stderr.write(`s3rver: ${event}: ${err?.stack ?? err}\n`));
const server = new S3rver({
  address: "127.0.0.1",
  port: Number(port),
  silent: true,
  directory,
  configureBuckets: (buckets ?? "").split(",").filter(Boolean).map((name) => ({ name })),
});
const { port: actual } = await server.run();
process.stdout.write(`listening ${actual}\n`);
process.on("SIGTERM", () => server.close().finally(() => process.exit(0)));
