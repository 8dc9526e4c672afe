// Sends one chained exception to the DSN given as the first argument with the real
// @sentry/node SDK, then flushes. Run by tests/sentry/test_js_sdk.py.
"use strict";

const Sentry = require("@sentry/node");

const dsn = process.argv[2];
const tag = process.argv[3] || "js";

Sentry.init({
  dsn,
  release: "web@1.2.3",
  environment: "js-test",
  defaultIntegrations: false,
  integrations: [Sentry.linkedErrorsIntegration()],
  sendClientReports: false,
  tracesSampleRate: 0,
});

function connectUpstream() {
  const err = new Error("connect ECONNREFUSED 127.0.0.1:6543");
  err.code = "ECONNREFUSED";
  throw err;
}

function chargeOrder() {
  try {
    connectUpstream();
  } catch (cause) {
    throw new Error("charging the order failed", { cause });
  }
}

async function main() {
  Sentry.setTag("run", tag);
  Sentry.setUser({ id: "user-42" });
  try {
    chargeOrder();
  } catch (err) {
    const eventId = Sentry.captureException(err);
    process.stdout.write(eventId + "\n");
  }
  const flushed = await Sentry.flush(10000);
  if (!flushed) {
    process.stderr.write("flush timed out\n");
    process.exit(2);
  }
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack) + "\n");
  process.exit(1);
});
