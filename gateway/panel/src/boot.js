// Loaded before the panel's bundle (index.html; a provider's page may do the
// same): sends the first calls at once, see early.js. Without it the panel
// works the same, one round trip later.
import { defaultPageSize, readConfig } from "./config.js";
import { sendEarly } from "./early.js";

const given = window.egressPanelConfig || {};
if (given.mount !== false && !window.egressPanelEarly) {
  const config = readConfig(window);
  window.egressPanelEarly = sendEarly(config, window.fetch.bind(window), defaultPageSize(config, window));
}
