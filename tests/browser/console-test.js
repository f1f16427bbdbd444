// The console in a real browser: Debian's chromium, headless, driven by
// playwright-core against a mas-serve that tests/bats/console.bats
// started on loopback.
//
//   node console-test.js URL SHOTS [KEY]
//   CONSOLE_MODE=stream node console-test.js URL SHOTS
//
// With KEY the server wants one: the page must ask for it at the first
// call, keep it for the tab only (sessionStorage), and go on with it.
// Then: chat (a reply with its intent, the session kept across a
// reload), a research task seen queued then completed and a citation
// opened on its passage, an analysis task drawn with its band, the
// flows drawn and one run, the metrics moving, keyboard only, phone
// width.  In stream mode the server's agents have a model that streams
// its reply: the page must show the reply as it grows, then its facts.
//
// A screenshot of each state goes to SHOTS.  Any error or warning in
// the browser's console (but the 401 that asks for the key), an
// uncaught exception, a failed request or a request for anything
// outside URL fails the run.  Prints "ok - STEP" per step; exits 1
// naming the step that failed.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, shots, key] = process.argv.slice(2);
const WAIT = 10000;
const problems = [];
let step = "starting chromium";

mkdirSync(shots, { recursive: true });
// Nothing may hang: the whole run is bounded.
setTimeout(() => fail(new Error("the run took over 60 s")), 60000).unref();

function fail(error) {
  console.error(`not ok - ${step}: ${error.message}`);
  if (problems.length) console.error(problems.slice(0, 10).join("\n"));
  process.exit(1);
}

function check(condition, what) {
  if (!condition) throw new Error(what);
}

async function api(method, path, body) {
  const answer = await fetch(base + path, {
    method,
    headers: { "Content-Type": "application/json",
      ...(key ? { "X-API-Key": key } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return answer.json();
}

async function run(name, action) {
  step = name;
  const began = Date.now();
  await action();
  check(problems.length === 0, "the browser reported:");
  console.log(`ok - ${name} (${Date.now() - began} ms)`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // As root chromium's sandbox cannot start; /dev/shm may be small.
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  timeout: 20000,
}).catch(fail);
const context = await browser.newContext({
  viewport: { width: 1100, height: 900 },
});
const page = await context.newPage();
page.setDefaultTimeout(WAIT);
page.on("console", (m) => {
  // How chromium reports the 401 that makes the page ask for a key.
  const asked = key && /status of 401 \(Unauthorized\)/.test(m.text());
  if ((m.type() === "error" || m.type() === "warning") && !asked)
    problems.push(`console ${m.type()}: ${m.text()}`);
});
page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
page.on("requestfailed", (r) =>
  problems.push(`request failed: ${r.url()} ${r.failure().errorText}`));
page.on("request", (r) => {
  if (!r.url().startsWith(base))
    problems.push(`a request outside the server: ${r.url()}`);
});
const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`,
  fullPage: true });
// The text of the fact NAME of the latest agent reply.
const fact = (name) => page.locator("#chat-log li.agent").last()
  .locator(`dt:text-is("${name}") + dd`).innerText();

try {
  if (process.env.CONSOLE_MODE === "stream") await stream();
  else await tour();
} catch (error) {
  await shot("failed").catch(() => {});
  fail(error);
}
await browser.close();

async function tour() {
  await run("the page loads and tells the server's health", async () => {
    await page.goto(base + "/");
    await page.getByText(/Health: healthy/).waitFor();
    check(await page.title() === "mas console", "title");
  });

  await run("chat: a reply shows its intent, confidence, sentiment and " +
    "suggested actions", async () => {
    await page.getByLabel("Message").fill("how much is the pro plan?");
    await page.getByLabel("Message").press("Enter");
    if (key) await giveKey();
    await page.locator("#chat-log li.agent dl").waitFor();
    check(await fact("Intent") === "pricing", "intent is not pricing");
    check(/^\d+ %$/.test(await fact("Confidence")), "confidence");
    check(/^(neutral|positive|negative)/.test(await fact("Sentiment")),
      "sentiment");
    check((await fact("Suggested actions")).includes("view_pricing"),
      "suggested actions");
    check((await page.locator("#chat-log li.agent .text").innerText())
      .includes("$15"), "the reply's text");
    await shot("chat");
  });

  await run("chat: the session and the conversation survive a reload",
    async () => {
      const before = await page.locator("#session").innerText();
      check(/^web-[0-9a-f]{16}$/.test(before), `session id ${before}`);
      await page.reload();
      await page.locator("#chat-log li.agent dl").waitFor();
      check(await page.locator("#session").innerText() === before,
        "a new session after reload");
      check(await page.locator("#chat-log li").count() === 2, "log lost");
      await page.getByLabel("Message").fill("I want to cancel");
      await page.getByRole("button", { name: "Send" }).click();
      await page.locator("#chat-log li.agent dl").nth(1).waitFor();
      check(await fact("Intent") === "cancel_subscription",
        `second intent ${await fact("Intent")}`);
    });

  let taskId;
  await run("tasks: a research task is seen queued, then completed",
    async () => {
      await page.getByRole("button", { name: "Tasks" }).click();
      await page.getByLabel("Type").selectOption("research");
      await page.getByLabel("Question").fill("flow batteries");
      await page.getByRole("button", { name: "Submit task" }).click();
      const queued = await page.locator("#task-result p")
        .filter({ hasText: /Task \w+ is queued/ }).innerText();
      taskId = queued.match(/Task (\w+)/)[1];
      await page.locator("#task-result h3", { hasText: "completed" })
        .waitFor();
      check((await page.locator("#task-result h3").innerText())
        .includes(taskId), "another task shown");
      check(await page.locator("#task-list tr", { hasText: "completed" })
        .count() >= 1, "the list does not say completed");
      await shot("task-research");
    });

  await run("tasks: a citation opens the passage it cites", async () => {
    const task = (await api("GET", `/tasks/${taskId}`)).data;
    const finding = task.result.key_findings[0];
    const source = task.result.sources.find((s) =>
      s.passage_id === finding.sources[0]);
    const button = page.locator("ol.findings > li").first()
      .locator(".citations button").first();
    await button.click();
    check(await button.getAttribute("aria-expanded") === "true",
      "aria-expanded");
    const quote = page.locator("ol.findings > li").first()
      .locator("blockquote");
    check((await quote.locator("p").innerText()).trim() ===
      source.text.replace(/\s+/g, " ").trim() ||
      (await quote.locator("p").innerText()).includes(
        source.text.split("\n")[0]), "not the cited passage");
    check((await quote.locator("footer").innerText())
      .includes(source.passage_id), "the passage's id");
    await shot("task-citation");
    // The top of the answer alone: the README's picture
    // (examples/console.png), small.
    await page.setViewportSize({ width: 860, height: 900 });
    const box = await page.locator("#task-result").boundingBox();
    await page.screenshot({ path: `${shots}/research-answer.png`,
      clip: { x: box.x, y: box.y, width: box.width,
        height: Math.min(box.height, 560) } });
    await page.setViewportSize({ width: 1100, height: 900 });
  });

  await run("tasks: an analysis shows insights and a forecast band",
    async () => {
      await page.getByLabel("Type").selectOption("analysis");
      await page.getByLabel("Data source").fill("user_behavior");
      await page.getByLabel("Analysis").selectOption("trend_prediction");
      await page.getByRole("button", { name: "Submit task" }).click();
      await page.locator("#task-result h3",
        { hasText: /analysis, completed/ }).waitFor();
      check(await page.locator("#task-result figure svg polygon.band")
        .count() === 3, "three charts with a band");
      check(await page.locator("#task-result .analysis li").count() > 3,
        "insights");
      await shot("task-analysis");
    });

  await run("flows: each flow is drawn, and one runs on a record",
    async () => {
      const flows = (await api("GET", "/flows")).data.flows;
      await page.getByRole("button", { name: "Flows" }).click();
      await page.locator("section.flow svg").first().waitFor();
      check(await page.locator("section.flow svg[role=img]").count() ===
        flows.filter((f) => f.graph).length, "a graph per flow");
      const triage = page.getByRole("region", { name: "flow triage" });
      check(await triage.locator("g.node").count() ===
        flows.find((f) => f.name === "triage").nodes + 2, "triage's nodes");
      await triage.getByLabel("Record for triage (JSON)")
        .fill('{"message": "my invoice is wrong"}');
      await triage.getByRole("button", { name: "Run triage" }).click();
      await triage.locator("pre", { hasText: "\"meta\"" }).waitFor();
      await shot("flows");
    });

  await run("monitoring: the figures come from /metrics and move",
    async () => {
      await page.getByRole("button", { name: "Monitoring" }).click();
      const requests = page.locator("#figures dt:text-is('Requests') + dd");
      await requests.waitFor();
      const first = Number((await requests.innerText()).replace(/,/g, ""));
      check(first > 0, "no requests counted");
      const done = page.locator("#figures dt:text-is('Tasks completed') + dd");
      check(Number(await done.innerText()) >= 2, "tasks completed");
      const p95 = page.locator("#figures dt:text-is('95th percentile " +
        "latency') + dd");
      check(/^[0-9.]+ ms$/.test(await p95.innerText()), "95th percentile");
      for (let i = 0; i < 5; i++)
        await api("POST", "/chat", { message: "hello" });
      await page.waitForFunction((n) => Number(document.querySelector(
        "#figures div:nth-child(2) dd").textContent.replace(/,/g, "")) >= n,
      first + 5);
      await page.locator("#rate-chart polyline").waitFor();
      await shot("monitoring");
    });

  await run("keyboard only: Tab reaches the panes, Enter opens one",
    async () => {
      await page.getByRole("button", { name: "Chat" }).click();
      await page.locator("body").focus();
      for (let i = 0; i < 12; i++) {
        await page.keyboard.press("Tab");
        const name = await page.evaluate(() =>
          document.activeElement.textContent);
        if (name === "Tasks") break;
      }
      const outline = await page.evaluate(() =>
        getComputedStyle(document.activeElement).outlineStyle);
      check(outline !== "none", "no focus outline");
      await page.keyboard.press("Enter");
      check(await page.locator("#tasks").isVisible(), "tasks not shown");
      check(!(await page.locator("#chat").isVisible()), "chat still shown");
    });

  await run("phone width: nothing wider than the screen", async () => {
    await page.setViewportSize({ width: 380, height: 800 });
    for (const pane of ["Chat", "Tasks", "Flows", "Monitoring"]) {
      await page.getByRole("button", { name: pane, exact: true }).click();
      const wide = await page.evaluate(() =>
        document.documentElement.scrollWidth);
      check(wide <= 380, `${pane} is ${wide} px wide`);
    }
    await page.getByRole("button", { name: "Tasks" }).click();
    await shot("phone");
  });
}

// The server answered 401: the page asks for the key, which is then
// kept in sessionStorage and nowhere else.
async function giveKey() {
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  check((await dialog.innerText()).includes("API key"), "the dialog");
  await shot("key-dialog");
  await dialog.getByLabel("Key").fill(key);
  await dialog.getByLabel("Key").press("Enter");
  await page.locator("#chat-log li.agent dl").waitFor();
  check(await page.evaluate(() => sessionStorage.getItem("mas.key")) ===
    key, "the key is not in sessionStorage");
  check(!JSON.stringify(await page.evaluate(() => ({ ...localStorage })))
    .includes(key), "the key is in localStorage");
}

// A model's reply arrives in pieces: each state of the reply's text is
// recorded as the page changes it, and some must come before the last.
async function stream() {
  await run("chat: a streamed reply grows as it comes, then shows its " +
    "facts", async () => {
    await page.goto(base + "/");
    await page.evaluate(() => {
      window.seen = [];
      new MutationObserver(() => {
        const text = document.querySelector("#chat-log li.agent .text");
        if (text) window.seen.push(text.textContent);
      }).observe(document.getElementById("chat-log"),
        { subtree: true, childList: true, characterData: true });
    });
    await page.getByLabel("Message").fill("how much is pro?");
    await page.getByLabel("Message").press("Enter");
    await page.locator("#chat-log li.agent dl").waitFor();
    const final = await page.locator("#chat-log li.agent .text").innerText();
    check(final === "Pro costs $15 per user per month.", `reply ${final}`);
    const seen = await page.evaluate(() => window.seen);
    const pieces = [...new Set(seen)].filter((t) => t && t !== "…" &&
      t !== final && final.startsWith(t));
    check(pieces.length >= 2, `not streamed: ${JSON.stringify(seen)}`);
    check(await fact("Intent") === "pricing", "intent");
    await shot("chat-streamed");
  });
}
