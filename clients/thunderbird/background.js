"use strict";

/* global LetterlockSecurity, messenger */

// The address part of an author such as "Alice <alice@alpha.test>".
function authorAddress(author) {
  if (typeof author !== "string") {
    return "";
  }
  const angle = /<([^<>\s]+)>\s*$/.exec(author);
  return angle ? angle[1] : author.trim();
}

// Reads the displayed message's top-level header and returns its summary (security.js).
async function summaryOf(message) {
  const full = await messenger.messages.getFull(message.id);
  return LetterlockSecurity.summarize(full.headers, authorAddress(message.author));
}

// Sets the button in the message header area of `tab`: the message content cannot draw there.
async function show(tab, message) {
  let summary;
  try {
    summary = await summaryOf(message);
  } catch (e) {
    summary = { level: "grey", label: "Security state unknown", title: "Letterlock: security state unknown (the message could not be read)" };
  }
  await Promise.all([
    messenger.messageDisplayAction.setIcon({ tabId: tab.id, path: "icons/" + summary.level + ".svg" }),
    messenger.messageDisplayAction.setLabel({ tabId: tab.id, label: summary.label }),
    messenger.messageDisplayAction.setTitle({ tabId: tab.id, title: summary.title }),
  ]);
  // A line on the console (stdout with devtools.console.stdout.chrome) lets a test read the decision next to its screenshot.
  // URI-encoded, so the line holds no quote or backslash the console would escape.
  console.log("letterlock-state level=" + summary.level + " subject=" + encodeURIComponent(message.subject) + " label=" + encodeURIComponent(summary.label));
}

messenger.messageDisplay.onMessageDisplayed.addListener((tab, message) => {
  show(tab, message);
});
