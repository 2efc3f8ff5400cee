// The careers-site chat widget. One tag embeds it:
//   <script src="https://assistant.example/webhooks/web/widget.js" data-title="Acme careers"
//           data-greeting="Hi! Ask me anything" data-color="#1f5fbf" data-lang="en" defer></script>
// Optional: data-server (default: where the script came from), data-token (the careers site's
// JWT for a logged-in candidate; or set window.CandidateAssistantToken before the script loads).
import { io } from "socket.io-client";

const script = document.currentScript;
const options = {
  server: (script && script.dataset.server) || (script ? new URL(script.src).origin : location.origin),
  token: (script && script.dataset.token) || window.CandidateAssistantToken || null,
  title: (script && script.dataset.title) || "Careers assistant",
  greeting: (script && script.dataset.greeting) || "Hi! Ask me where your application stands, about a role, or about working here.",
  color: (script && script.dataset.color) || "#1f5fbf",
  lang: (script && script.dataset.lang) || document.documentElement.lang || "en",
};
const STORE = "candidate-assistant:" + options.server;
const stored = (() => { try { return JSON.parse(localStorage.getItem(STORE)) || {}; } catch (e) { return {}; } })();
const state = { sessionId: stored.sessionId || null, pending: stored.pending || [], open: !!stored.open };
const save = () => {
  try { localStorage.setItem(STORE, JSON.stringify({ sessionId: state.sessionId, pending: state.pending, open: state.open })); } catch (e) { /* private mode */ }
};
const newId = () => Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");

const CSS = `
:host { all: initial; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.launcher { position: fixed; right: 16px; bottom: 16px; z-index: 2147483000; border: 0; border-radius: 28px;
  padding: 14px 20px; background: var(--ca-color); color: #fff; font-size: 16px; font-weight: 600; cursor: pointer;
  box-shadow: 0 4px 14px rgba(0,0,0,.25); }
.panel { position: fixed; right: 16px; bottom: 80px; z-index: 2147483000; width: 370px; max-width: calc(100vw - 32px);
  height: 560px; max-height: calc(100vh - 100px); display: flex; flex-direction: column; background: #fff; color: #1a1a1a;
  border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.3); overflow: hidden; }
.panel[hidden] { display: none; }
header { display: flex; align-items: center; justify-content: space-between; padding: 12px 14px; background: var(--ca-color); color: #fff; }
header h2 { margin: 0; font-size: 16px; }
.close { background: transparent; color: #fff; border: 0; font-size: 22px; line-height: 1; cursor: pointer; padding: 4px 8px; border-radius: 6px; }
.log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px; background: #f5f6f8; }
.msg { max-width: 85%; padding: 9px 12px; border-radius: 12px; font-size: 15px; line-height: 1.4; white-space: pre-wrap; overflow-wrap: anywhere; }
.bot { align-self: flex-start; background: #fff; border: 1px solid #d0d4da; }
.user { align-self: flex-end; background: var(--ca-color); color: #fff; }
.user.sending { opacity: .7; }
.msg a { color: inherit; text-decoration: underline; }
.replies { display: flex; flex-wrap: wrap; gap: 6px; align-self: flex-start; }
.replies button { border: 1px solid var(--ca-color); color: var(--ca-color); background: #fff; border-radius: 16px; padding: 6px 12px; font-size: 14px; cursor: pointer; }
.typing { align-self: flex-start; color: #4a4f57; font-size: 14px; padding: 0 4px; }
.typing[hidden] { display: none; }
.status { font-size: 13px; color: #8a1c1c; padding: 4px 12px; background: #fff4f4; }
.status[hidden] { display: none; }
form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #d0d4da; background: #fff; }
form label { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
textarea { flex: 1; resize: none; border: 1px solid #8a9099; border-radius: 8px; padding: 8px; font-size: 15px; min-height: 40px; max-height: 120px; }
.send { border: 0; border-radius: 8px; padding: 0 14px; background: var(--ca-color); color: #fff; font-weight: 600; font-size: 15px; cursor: pointer; }
button:focus-visible, textarea:focus-visible, a:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
@media (max-width: 480px) {
  .panel { right: 0; bottom: 0; width: 100vw; max-width: 100vw; height: 100vh; max-height: 100vh; border-radius: 0; }
  .launcher { right: 12px; bottom: 12px; }
}`;

function element(tag, attributes = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// Bot text with its links made clickable, built from text nodes (never innerHTML).
function richText(node, text) {
  const pattern = /(https?:\/\/[^\s<>"')]+)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    node.append(document.createTextNode(text.slice(last, match.index)));
    const link = element("a", { href: match[0], target: "_blank", rel: "noopener noreferrer" }, match[0]);
    node.append(link);
    last = match.index + match[0].length;
  }
  node.append(document.createTextNode(text.slice(last)));
}

const host = element("div", { id: "candidate-assistant" });
const root = host.attachShadow({ mode: "open" });
root.append(element("style", {}, CSS));
host.style.setProperty("--ca-color", options.color);

const launcher = element("button", { class: "launcher", "aria-expanded": "false", "aria-controls": "ca-panel" }, "Chat with us");
const panel = element("section", { class: "panel", id: "ca-panel", role: "dialog", "aria-label": options.title, lang: options.lang });
panel.hidden = true;
const header = element("header");
header.append(element("h2", {}, options.title));
const close = element("button", { class: "close", "aria-label": "Close chat" }, "\u00d7");
header.append(close);
const status = element("div", { class: "status", role: "status" });
status.hidden = true;
const log = element("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions", tabindex: "0", "aria-label": "Conversation" });
const typing = element("div", { class: "typing", "aria-hidden": "true" }, "Assistant is typing\u2026");
typing.hidden = true;
const form = element("form");
const label = element("label", { for: "ca-input" }, "Your message");
const input = element("textarea", { id: "ca-input", rows: "1", maxlength: "2000", placeholder: "Type your message", autocomplete: "off" });
const send = element("button", { class: "send", type: "submit" }, "Send");
form.append(label, input, send);
panel.append(header, status, log, typing, form);
root.append(launcher, panel);

function setOpen(open) {
  state.open = open;
  save();
  panel.hidden = !open;
  launcher.setAttribute("aria-expanded", String(open));
  launcher.textContent = open ? "Close chat" : "Chat with us";
  if (open) input.focus();
}
launcher.addEventListener("click", () => setOpen(panel.hidden));
close.addEventListener("click", () => { setOpen(false); launcher.focus(); });
panel.addEventListener("keydown", (event) => { if (event.key === "Escape") { setOpen(false); launcher.focus(); } });

function scrollDown() { log.scrollTop = log.scrollHeight; }

function showMessage(message, extra = "") {
  const bubble = element("div", { class: `msg ${message.sender} ${extra}`.trim() });
  if (message.sender === "bot") richText(bubble, message.text); else bubble.textContent = message.text;
  const who = element("span", { class: "sr-only" }, message.sender === "bot" ? "Assistant: " : "You: ");
  bubble.prepend(who);
  log.append(bubble);
  return bubble;
}

function showReplies(replies) {
  root.querySelectorAll(".replies").forEach((group) => group.remove());
  if (!replies || !replies.length) return;
  const group = element("div", { class: "replies", role: "group", "aria-label": "Suggested replies" });
  for (const reply of replies) {
    const button = element("button", { type: "button" }, reply.title);
    // The pressed button disappears with its group: focus goes back to the message box, not the page.
    button.addEventListener("click", () => { group.remove(); input.focus(); sendMessage(reply.payload, reply.title); });
    group.append(button);
  }
  log.append(group);
}

function render(history) {
  log.replaceChildren();
  if (!history.length) showMessage({ sender: "bot", text: options.greeting });
  for (const message of history) showMessage(message);
  const lastBot = history.length ? history[history.length - 1] : null;
  if (lastBot && lastBot.sender === "bot") showReplies(lastBot.quick_replies);
  for (const pending of state.pending) pending.bubble = showMessage({ sender: "user", text: pending.display }, "sending");
  scrollDown();
}

// Long-polling only: the websocket upgrade fails against Rasa 3.6's Sanic and engine.io ("Invalid frame
// header"), and a failed upgrade would leave the visitor retrying instead of chatting.
const socket = io(options.server, {
  path: "/socket.io", transports: ["polling"], upgrade: false, auth: options.token ? { token: options.token } : {},
  reconnectionDelay: 500, reconnectionDelayMax: 5000,
});
let ready = false;

function deliver(pending) {
  typing.hidden = false;
  socket.timeout(30000).emit("user_uttered", { message: pending.text, message_id: pending.id }, (error, ack) => {
    if (error) return; // no answer in time: it is resent on the next connection, and the server answers it once
    state.pending = state.pending.filter((p) => p.id !== pending.id);
    save();
    if (pending.bubble) pending.bubble.classList.remove("sending");
    if (!state.pending.length) typing.hidden = true;
    if (ack && !ack.ok) showMessage({ sender: "bot", text: "Sorry, that message could not be sent." });
  });
}

function sendMessage(text, display) {
  const pending = { id: newId(), text, display: display || text };
  state.pending.push(pending);
  save();
  root.querySelectorAll(".replies").forEach((group) => group.remove());
  pending.bubble = showMessage({ sender: "user", text: pending.display }, "sending");
  scrollDown();
  if (ready) deliver(pending);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  sendMessage(text);
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
});

socket.on("connect", () => {
  status.hidden = true;
  socket.emit("session_request", { session_id: state.sessionId });
});
socket.on("session_confirm", (data) => { state.sessionId = data.session_id; save(); });
socket.on("history", (history) => {
  ready = true;
  render(history);
  for (const pending of [...state.pending]) deliver(pending);
});
socket.on("bot_uttered", (message) => {
  if (!message || !message.text) return;
  showMessage({ sender: "bot", text: message.text });
  showReplies(message.quick_replies);
  typing.hidden = true;
  scrollDown();
});
socket.on("disconnect", () => { ready = false; status.textContent = "Reconnecting\u2026"; status.hidden = false; });
socket.on("connect_error", (error) => {
  ready = false;
  status.textContent = options.token && !socket.active ? "Your sign-in has expired. Please reload the page." : "Can't reach the assistant. Retrying\u2026";
  status.hidden = false;
});

document.body.append(host);
setOpen(state.open);
window.CandidateAssistant = { open: () => setOpen(true), close: () => setOpen(false), socket };
