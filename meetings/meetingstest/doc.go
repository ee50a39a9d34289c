// Package meetingstest holds what the tests of meetings and of
// meetings/media share: the fixture (a database with a seeded meeting and
// proceedings on it, built on meetings' exported API), the websocket test
// client, HTTP requests that do not follow redirects, reading a meeting
// pass or an error's field from an answer, and chromedp steps.
//
// It imports meetings, so meetings' own tests that use it are in the
// external package meetings_test (export_test.go lends them what they need
// of meetings' insides). Nothing but tests imports it. It must not import
// pion: a bot speaks through a WSClient from media's tests (OnMessage).
package meetingstest
