# Multi-stage build: a static binary on a minimal, non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/communehub ./cmd/communehub

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/communehub /communehub
USER nonroot:nonroot
ENV COMMUNEHUB_DATA_DIR=/data
# New goroutines start with the smallest stack instead of the average one:
# the embedded broker's two goroutines per device then cost 20 KiB of
# stacks instead of 28 (docs/benchmarks.md, "5,000 devices").
ENV GODEBUG=adaptivestackstart=0
VOLUME ["/data"]
EXPOSE 8080 1883
ENTRYPOINT ["/communehub"]
CMD ["serve"]
