/** The release, in its own module so the CLI prints it without loading the server. */
export const VERSION = '0.1.0';
