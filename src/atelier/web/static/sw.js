// Atelier service worker: shows Web Push notifications and opens the dashboard on click.
"use strict";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch (e) {
    message = { title: "Atelier", body: event.data ? event.data.text() : "" };
  }
  var title = message.title || "Atelier";
  var options = {
    body: message.body || "",
    tag: message.tag || undefined,
    renotify: !!message.tag,
    icon: "/ui/static/icon-192.png",
    badge: "/ui/static/icon-192.png",
    data: { url: message.url || "/" },
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var target = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin);
  if (target.origin !== self.location.origin) { target = new URL("/", self.location.origin); }
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (clients) {
    for (var i = 0; i < clients.length; i++) {
      if (new URL(clients[i].url).origin === target.origin && "focus" in clients[i]) {
        return clients[i].navigate(target.href).then(function (c) { return (c || clients[i]).focus(); });
      }
    }
    return self.clients.openWindow(target.href);
  }));
});
