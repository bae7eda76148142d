// The dashboard's entry: one raftcp client for the page (connected to the
// member that served it; the client finds the others by itself), a token
// form when the cluster asks for one, and a view per address (#/...).
import { connect } from "../raftcp/browser.js";
import { h, describeError, failures } from "./ui.js";
import { dashboard } from "./dashboard.js";
import { playground } from "./playground.js";
import { demos } from "./demos.js";

/** The token for this tab only: sessionStorage ends with the tab. */
const TOKEN_KEY = "raftcp-token";
/** Error codes that mean the cluster wants a (fresh) token. */
const TOKEN_CODES = new Set(["UNAUTHENTICATED", "TOKEN_EXPIRED"]);

const views = [
  { path: /^#?\/?$/, render: dashboard },
  { path: /^#\/playground$/, render: playground },
  { path: /^#\/demos(\/[a-z-]+)?$/, render: demos },
];

const main = document.getElementById("main");
const status = document.getElementById("connection");
let client;
let leaveView = () => {};

/** The page's own member, as a client endpoint. */
function ownEndpoint() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/v1/client`;
}

async function start() {
  const token = sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  try {
    client = await connect([ownEndpoint()], { clientName: "www", token });
  } catch (error) {
    status.textContent = "not connected";
    main.replaceChildren(h("h1", {}, "Cannot connect"), h("p", { class: "bad" }, describeError(error)));
    return;
  }
  status.textContent = `connected to ${location.host}`;
  // Ends the session with the tab, so what it holds (the election demo's
  // lock) is released now rather than when the session expires.
  addEventListener("pagehide", closeClient);
  addEventListener("hashchange", route);
  route();
  // The handshake happens in the background; a cluster that wants a token
  // (or a better one) says so on the first call, and once a token expires
  // every call says so.
  failures.addEventListener("failure", onFailure);
  client.admin().members().catch((error) => onFailure({ detail: error }));
}

function onFailure({ detail: error }) {
  if (!TOKEN_CODES.has(error?.code)) return;
  failures.removeEventListener("failure", onFailure);
  removeEventListener("hashchange", route);
  leaveView();
  leaveView = () => {};
  closeClient();
  askForToken(describeError(error));
}

function closeClient() {
  removeEventListener("pagehide", closeClient);
  client.close();
}

function askForToken(reason) {
  status.textContent = "needs a token";
  const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true });
  const form = h("form", { class: "inline" },
    h("label", { for: "token" }, "Token (JWT)", input),
    h("button", { type: "submit" }, "Connect"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    main.replaceChildren(h("p", {}, "connecting…"));
    start();
  });
  main.replaceChildren(
    h("h1", {}, "This cluster needs a token"),
    h("p", { class: "lead" }, "The token is kept for this tab only and sent only to this cluster."),
    h("p", { class: "bad" }, reason),
    form);
  input.focus();
}

function route() {
  leaveView();
  const view = views.find((v) => v.path.test(location.hash)) ?? views[0];
  for (const link of document.querySelectorAll("nav a")) {
    const here = link.getAttribute("href") === (location.hash.replace(/^(#\/demos).*/, "$1") || "#/");
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  main.replaceChildren();
  leaveView = view.render(main, client, location.hash) ?? (() => {});
}

start();
