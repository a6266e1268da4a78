"use strict";

/* global LetterlockSecurity, messenger */

// The full detail for the message shown in the active tab, worded by security.js.
async function render() {
  const heading = document.getElementById("summary");
  const list = document.getElementById("details");
  let summary;
  try {
    const [tab] = await messenger.tabs.query({ active: true, currentWindow: true });
    const message = await messenger.messageDisplay.getDisplayedMessage(tab.id);
    if (!message) {
      heading.textContent = "No message is shown.";
      return;
    }
    const full = await messenger.messages.getFull(message.id);
    const angle = /<([^<>\s]+)>\s*$/.exec(message.author || "");
    summary = LetterlockSecurity.summarize(full.headers, angle ? angle[1] : (message.author || "").trim());
  } catch (e) {
    summary = { level: "grey", label: "Security state unknown", details: ["The message could not be read."] };
  }
  heading.textContent = summary.label;
  heading.className = summary.level;
  for (const line of summary.details) {
    const item = document.createElement("li");
    item.textContent = line;
    list.appendChild(item);
  }
}

render();
