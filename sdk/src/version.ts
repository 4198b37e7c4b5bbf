/** The package's version, as package.json says (a test keeps them equal): it names the SDK in User-Agent. */
export const SDK_VERSION = "0.1.0";
