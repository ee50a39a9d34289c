// Package meetingstest holds the test helpers that the tests of meetings
// and of meetings/media share: HTTP requests that do not follow redirects,
// reading a meeting pass or an error's field from an answer, and chromedp
// steps.
//
// It imports no meetings package, so that the tests of meetings itself
// (package meetings) can import it too; each package's fixture (a seeded
// meeting) stays with its tests. It must not import pion.
package meetingstest
