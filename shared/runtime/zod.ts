import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

/**
 * The functions' schemas (the configuration, the events) use zod/mini: the same checks as zod's
 * classic API, as functions instead of methods, so that a bundle holds only the checks it uses
 * (about 35 KB minified against about 100 KB: issue 12's cold start). Each imports `zod/mini` as a
 * namespace of its own; re-exporting that namespace from here would make the bundler keep all of
 * it. zod/mini loads no locale, and every issue would read "Invalid input": imported for its
 * effect by the two places that parse (validation.ts, config.ts), this gives the English messages
 * the classic API gives.
 */
config(en());
