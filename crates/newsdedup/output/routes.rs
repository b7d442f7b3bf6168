//! The pages as routes of the daemon's listener (`daemon --listen ADDR`): `/` (the HTML
//! page), `/feed.atom` and `/feed.json`. Each request reads through a read-only connection
//! from the listener's pool and is answered by [`super::http::respond`].

use super::http::{self, route};
use super::Format;
use crate::server::{Context, Request, Response, Router};
use hyper::header::HeaderName;
use hyper::StatusCode;

/// Adds the pages to `router`.
pub fn routes(router: Router) -> Router {
    ["/", "/index.html", "/feed.atom", "/feed.json"].into_iter().fold(router, |router, path| {
        let format = route(path).expect("every path here has a page");
        router.get(path, move |request: &Request, context: &Context| page(format, request, context))
    })
}

fn page(format: Format, request: &Request, context: &Context) -> anyhow::Result<Response> {
    let store = context.store()?;
    let answer = http::respond(
        &store,
        format,
        &http::Request {
            method: request.method().as_str(),
            path: request.path(),
            query: request.query().unwrap_or(""),
            host: request.header("host"),
            if_none_match: request.header("if-none-match"),
            if_modified_since: request.header("if-modified-since"),
        },
    );
    let mut response =
        Response { status: StatusCode::from_u16(answer.status)?, headers: Vec::new(), body: answer.body.into() };
    for (name, value) in answer.headers {
        response = response.header(HeaderName::from_bytes(name.as_bytes())?, &value);
    }
    Ok(response)
}
