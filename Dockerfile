# Local server (cmd/local) for users with Docker. See docker-compose.yml, which runs
# it against DynamoDB Local. The deployed service runs on Lambda instead (serverless.yml).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/streamlimit ./cmd/local

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/streamlimit /streamlimit
ENV PORT=3000
EXPOSE 3000
ENTRYPOINT ["/streamlimit"]
