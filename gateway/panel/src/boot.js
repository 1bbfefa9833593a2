// Loaded before the panel's bundle (index.html; a provider's page may do the
// same): sends the first call at once, see early.js. Without it the panel
// works the same, one round trip later.
import { readConfig } from "./config.js";
import { sendEarly } from "./early.js";

const given = window.egressPanelConfig || {};
if (given.mount !== false && !window.egressPanelEarly) {
  window.egressPanelEarly = sendEarly(readConfig(window), window.fetch.bind(window));
}
