// Sends one exception to the DSN given as the first argument with the real @sentry/node
// SDK, then flushes. Run by tests/sentry/test_js_sdk.py.
//   node send.js <dsn> [tag] [scenario]
// scenario: "chain" (default: an Error caused by a system error), "fetch" (fetch() to a
// closed port: TypeError "fetch failed" caused by ECONNREFUSED), "error-data" (an error
// whose code is only a property, sent with extraErrorDataIntegration), "message" (an info
// message, Sentry.captureMessage: no exception at all), "unhandled-rejection"
// (a rejected promise nobody awaits, sent by onUnhandledRejectionIntegration, with the
// source lines around each frame), "timeouts" (two warnings that differ only in a duration),
// "constraint" (a unique-constraint error with nothing to replay), "scrubbing" (a password,
// a card number and an Authorization header in the event), "cron" (a failing job under
// withMonitor and an ok captureCheckIn, each with its monitor config), "attachment" (an
// error with a scope attachment, then user feedback on it), "rate-limit" (three errors and
// a session; prints what each envelope was answered, as JSON, one line each).
// SEND_ENVIRONMENT and SEND_RELEASE replace the default environment and release.
"use strict";

const Sentry = require("@sentry/node");

const dsn = process.argv[2];
const tag = process.argv[3] || "js";
const scenario = process.argv[4] || "chain";

const ATTACHMENT = "step 1 ok\nstep 2 failed: export.csv is locked\n";
const CARD = "4111 1111 1111 1111";
const NIGHTLY = { schedule: { type: "crontab", value: "0 3 * * *" }, checkinMargin: 10,
  maxRuntime: 60, timezone: "Europe/Paris" };
const HOURLY = { schedule: { type: "interval", value: 1, unit: "hour" }, checkinMargin: 5 };

const integrations = [Sentry.linkedErrorsIntegration()];
if (scenario === "error-data") integrations.push(Sentry.extraErrorDataIntegration());
if (scenario === "unhandled-rejection") {
  integrations.push(Sentry.onUnhandledRejectionIntegration({ mode: "none" }));
  integrations.push(Sentry.contextLinesIntegration()); // the source lines around each frame
}

Sentry.init({
  dsn,
  release: process.env.SEND_RELEASE || "web@1.2.3",
  environment: process.env.SEND_ENVIRONMENT || "js-test",
  defaultIntegrations: false,
  integrations,
  sendClientReports: false,
  tracesSampleRate: 0,
  // The SDK captures an unhandled rejection itself: its event id is printed here.
  beforeSend(event) {
    if (scenario === "unhandled-rejection") process.stdout.write(event.event_id + "\n");
    if (scenario === "scrubbing") {
      // What httpIntegration would record for the request, sent as-is (no SDK scrubbing).
      event.request = { method: "POST", url: "https://shop.example.com/pay",
        headers: { Authorization: "Bearer s3cr3t-t0ken-value", Cookie: "sessionid=abc123" },
        data: { card_number: CARD, name: "Ada Lovelace" } };
    }
    return event;
  },
  transport: scenario === "rate-limit" ? reportingTransport : Sentry.makeNodeTransport,
});

// The node transport, printing each envelope's item types and the answer the SDK got
// (an empty answer: the SDK dropped the envelope itself, under a rate limit it was given).
function reportingTransport(options) {
  const transport = Sentry.makeNodeTransport(options);
  return {
    ...transport,
    async send(envelope) {
      const answer = await transport.send(envelope);
      const items = envelope[1].map(([header]) => header.type);
      const headers = (answer && answer.headers) || {};
      process.stdout.write(JSON.stringify({ items, status: (answer && answer.statusCode) || null,
        limits: headers["x-sentry-rate-limits"] || null }) + "\n");
      return answer;
    },
  };
}

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

function insertOrder() {
  const err = new Error('duplicate key value violates unique constraint "order_pk"');
  err.name = "SequelizeUniqueConstraintError";
  throw err;
}

// A job runs long after its in_progress check-in went out; the flush stands for that time
// (sent within one tick, the two check-ins race, and the closing one can arrive first).
async function nightlyExport() {
  await Sentry.flush(10000);
  throw new Error("warehouse unreachable");
}

function capture(fn) {
  try {
    fn();
  } catch (err) {
    return Sentry.captureException(err);
  }
  throw new Error(`${fn.name} did not fail`);
}

function print(line) {
  process.stdout.write(line + "\n");
}

// Each of these sends what its scenario names and prints the event ids to look for.
const SCENARIOS = {
  timeouts() {
    print(Sentry.captureMessage("upstream timed out after 30s", "warning"));
    print(Sentry.captureMessage("upstream timed out after 1500ms", "warning"));
  },
  constraint() {
    print(capture(insertOrder));
  },
  scrubbing() {
    Sentry.setExtra("login", { user: "ada", password: "hunter2" });
    Sentry.setContext("payment", { card: CARD, order_id: 1712345678901 });
    print(capture(chargeOrder));
  },
  async cron() {
    try {
      await Sentry.withMonitor("nightly-export", nightlyExport, NIGHTLY);
    } catch (err) {
      // The job's own failure is the check-in's: nothing else is sent.
    }
    Sentry.captureCheckIn({ monitorSlug: "hourly-sync", status: "ok" }, HOURLY);
  },
  attachment() {
    Sentry.getCurrentScope().addAttachment({ filename: "export.log", data: ATTACHMENT,
      contentType: "text/plain" });
    const eventId = capture(chargeOrder);
    Sentry.getCurrentScope().clearAttachments(); // the feedback goes without it
    Sentry.captureFeedback({ message: "The export never arrived.", name: "Ada",
      email: "ada@example.com", associatedEventId: eventId });
    print(eventId);
  },
  async "rate-limit"() {
    // One at a time: the second is answered only once the first was.
    for (let i = 0; i < 3; i += 1) {
      capture(chargeOrder);
      await Sentry.flush(10000);
    }
    Sentry.startSession();
    Sentry.captureSession(true);
  },
};

async function main() {
  Sentry.setTag("run", tag);
  Sentry.setUser({ id: "user-42" });
  if (SCENARIOS[scenario]) {
    await SCENARIOS[scenario]();
  } else if (scenario === "message") {
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
