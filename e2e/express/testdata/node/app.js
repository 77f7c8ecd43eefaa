// The Node side of expresscompat's interop tests: an express-session +
// connect-redis app with the same routes as the Go side.
// Environment: PORT, REDIS_URL, SECRETS (comma-separated; the first signs).
const express = require("express");
const session = require("express-session");
const RedisStore = require("connect-redis").default;
const { createClient } = require("redis");

const client = createClient({ url: process.env.REDIS_URL });
client.on("error", (err) => console.error("redis:", err.message));

client.connect().then(() => {
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(
    session({
      store: new RedisStore({ client }),
      secret: process.env.SECRETS.split(","),
      name: "connect.sid",
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 24 * 3600 * 1000, httpOnly: true, sameSite: "lax" },
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
