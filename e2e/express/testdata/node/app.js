// The Node side of expresscompat's interop tests: an express-session +
// connect-redis app with the same routes as the Go side.
// Environment: PORT, REDIS_URL, SECRETS (comma-separated; the first signs),
// STACK (which packages: "express4-connect-redis7" (node-redis 4),
// "express5-connect-redis10" (node-redis 6), "express5-connect-redis8-ioredis"),
// SESSION (JSON: name, prefix, rolling, cookie, the session({...}) options;
// cookie.maxAge in milliseconds).
const stack = process.env.STACK || "express4-connect-redis7";
const config = JSON.parse(process.env.SESSION || "{}");
const session = require("express-session");

let express, client, ready, makeStore;
switch (stack) {
  case "express4-connect-redis7": {
    express = require("express4");
    const RedisStore = require("connect-redis7").default;
    client = require("redis4").createClient({ url: process.env.REDIS_URL });
    ready = client.connect();
    makeStore = (o) => new RedisStore(o);
    break;
  }
  case "express5-connect-redis10": {
    express = require("express");
    const { RedisStore } = require("connect-redis");
    client = require("redis").createClient({ url: process.env.REDIS_URL });
    ready = client.connect();
    makeStore = (o) => new RedisStore(o);
    break;
  }
  case "express5-connect-redis8-ioredis": {
    express = require("express");
    const { RedisStore } = require("connect-redis8");
    const Redis = require("ioredis");
    client = new Redis(process.env.REDIS_URL);
    ready = new Promise((resolve) => client.once("ready", resolve));
    makeStore = (o) => new RedisStore(o);
    break;
  }
  default:
    throw new Error("unknown STACK " + stack);
}
client.on("error", (err) => console.error("redis:", err.message));

ready.then(() => {
  const app = express();
  app.set("trust proxy", true); // the tests say https in X-Forwarded-Proto
  app.use(express.urlencoded({ extended: false }));
  const storeOptions = { client };
  if (config.prefix) storeOptions.prefix = config.prefix;
  app.use(
    session({
      store: makeStore(storeOptions),
      secret: process.env.SECRETS.split(","),
      name: config.name || "connect.sid",
      resave: false,
      saveUninitialized: false,
      rolling: !!config.rolling,
      cookie: config.cookie || { maxAge: 24 * 3600 * 1000, httpOnly: true, sameSite: "lax" },
    })
  );
  const text = (res, s, code = 200) => res.status(code).type("text/plain").send(s);
  app.post("/login", (req, res, next) =>
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.user = req.body.user;
      text(res, "Logged in as " + req.body.user + "\n");
    })
  );
  app.get("/whoami", (req, res) =>
    req.session.user ? text(res, req.session.user + "\n") : text(res, "not logged in\n", 401)
  );
  app.post("/logout", (req, res, next) =>
    req.session.destroy((err) => (err ? next(err) : text(res, "Logged out\n")))
  );
  app.get("/count", (req, res) => text(res, String(req.session.views || 0) + "\n"));
  app.get("/incr", (req, res) => {
    req.session.views = (req.session.views || 0) + 1;
    text(res, String(req.session.views) + "\n");
  });
  app.listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening"));
});
