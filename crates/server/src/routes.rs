//! A router that remembers what it serves. The console and SCIM routers are built through
//! [`Routes`], so the authorization matrix enumerates their routes from the router itself
//! and fails when a route has no row.

use axum::Router;
use axum::handler::Handler;
use axum::routing::MethodRouter;

/// One route: its method and its path template, as registered.
pub type Route = (&'static str, &'static str);

pub struct Routes<S> {
    router: Router<S>,
    table: Vec<Route>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Routes {
            router: Router::new(),
            table: Vec::new(),
        }
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub fn new() -> Self {
        Self::default()
    }

    fn add(mut self, method: &'static str, path: &'static str, route: MethodRouter<S>) -> Self {
        // axum merges method routers registered for one path.
        self.router = self.router.route(path, route);
        self.table.push((method, path));
        self
    }

    pub fn get<H: Handler<T, S>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("GET", path, axum::routing::get(handler))
    }

    pub fn post<H: Handler<T, S>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("POST", path, axum::routing::post(handler))
    }

    pub fn put<H: Handler<T, S>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("PUT", path, axum::routing::put(handler))
    }

    pub fn patch<H: Handler<T, S>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("PATCH", path, axum::routing::patch(handler))
    }

    pub fn delete<H: Handler<T, S>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("DELETE", path, axum::routing::delete(handler))
    }

    /// The routes registered, in order.
    pub fn table(&self) -> &[Route] {
        &self.table
    }

    pub fn into_router(self) -> Router<S> {
        self.router
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_recorded_and_one_path_takes_several_methods() {
        let routes = Routes::<()>::new()
            .get("/a", async || "get")
            .post("/a", async || "post")
            .delete("/b/{id}", async || "delete");
        assert_eq!(routes.table(), &[("GET", "/a"), ("POST", "/a"), ("DELETE", "/b/{id}")]);
        let _router: Router = routes.into_router();
    }
}
