/* Build-time defaults. The e2e test writes its own copy pointing at the live test server. */
self.MERIT_CONFIG = { defaultServer: "http://127.0.0.1:8000" };
