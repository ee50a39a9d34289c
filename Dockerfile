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
VOLUME ["/data"]
EXPOSE 8080 1883
ENTRYPOINT ["/communehub"]
CMD ["serve"]
