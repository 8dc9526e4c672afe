// Sends one exception to the DSN given as the first argument with the real @sentry/node
// SDK, then flushes. Run by tests/sentry/test_js_sdk.py.
//   node send.js <dsn> [tag] [scenario]
// scenario: "chain" (default: an Error caused by a system error), "fetch" (fetch() to a
// closed port: TypeError "fetch failed" caused by ECONNREFUSED), "error-data" (an error
// whose code is only a property, sent with extraErrorDataIntegration), "message" (an info
// message, Sentry.captureMessage: no exception at all), "unhandled-rejection"
// (a rejected promise nobody awaits, sent by onUnhandledRejectionIntegration, with the
// source lines around each frame).
"use strict";

const Sentry = require("@sentry/node");

const dsn = process.argv[2];
const tag = process.argv[3] || "js";
const scenario = process.argv[4] || "chain";

const integrations = [Sentry.linkedErrorsIntegration()];
if (scenario === "error-data") integrations.push(Sentry.extraErrorDataIntegration());
if (scenario === "unhandled-rejection") {
  integrations.push(Sentry.onUnhandledRejectionIntegration({ mode: "none" }));
  integrations.push(Sentry.contextLinesIntegration()); // the source lines around each frame
}

Sentry.init({
  dsn,
  release: "web@1.2.3",
  environment: "js-test",
  defaultIntegrations: false,
  integrations,
  sendClientReports: false,
  tracesSampleRate: 0,
  // The SDK captures an unhandled rejection itself: its event id is printed here.
  beforeSend(event) {
    if (scenario === "unhandled-rejection") process.stdout.write(event.event_id + "\n");
    return event;
  },
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

function lookUpLedger() {
  const err = new Error("the ledger did not answer");
  err.code = "ECONNREFUSED";
  throw err;
}

async function failingCall() {
  if (scenario === "fetch") {
    // A loopback port the test found closed (REFUSED_URL): the connection is refused.
    await fetch(process.env.REFUSED_URL);
  } else if (scenario === "error-data") {
    lookUpLedger();
  } else {
    chargeOrder();
  }
}

function refundLater() {
  return Promise.reject(new Error("the refund was rejected"));
}

async function main() {
  Sentry.setTag("run", tag);
  Sentry.setUser({ id: "user-42" });
  if (scenario === "message") {
    process.stdout.write(Sentry.captureMessage("cache warmed in 1500ms", "info") + "\n");
  } else if (scenario === "unhandled-rejection") {
    refundLater(); // not awaited: Node reports the rejection once this turn ends
    await new Promise((resolve) => setTimeout(resolve, 100));
  } else {
    try {
      await failingCall();
    } catch (err) {
      const eventId = Sentry.captureException(err);
      process.stdout.write(eventId + "\n");
    }
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
