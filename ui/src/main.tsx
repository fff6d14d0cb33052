import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { loadSession, logout, onLoggedOut, type Session } from './api';
import { JobPage } from './pages/job';
import { JobsPage } from './pages/jobs';
import { LoginPage } from './pages/login';
import { QueryPage } from './pages/query';
import { TablesPage } from './pages/tables';
import './style.css';

// Hash routes, so the server serves one page for every view.
function useRoute(): string {
  const [hash, setHash] = useState(location.hash || '#/jobs');
  useEffect(() => {
    const changed = () => setHash(location.hash || '#/jobs');
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession());
  const route = useRoute();
  useEffect(() => {
    onLoggedOut(() => setSession(undefined));
  }, []);
  if (!session) return <LoginPage onLogin={setSession} />;
  const job = /^#\/jobs\/([^/]+)$/.exec(route);
  const page = job ? <JobPage key={job[1]} id={decodeURIComponent(job[1]!)} /> : route === '#/tables' ? <TablesPage /> : route === '#/query' ? <QueryPage /> : <JobsPage />;
  const tab = route.split('/')[1] ?? 'jobs';
  return (
    <>
      <header>
        <strong>Inlet</strong>
        <nav>
          {['jobs', 'tables', 'query'].map((name) => (
            <a href={`#/${name}`} class={tab === name ? 'active' : ''}>
              {name[0]!.toUpperCase() + name.slice(1)}
            </a>
          ))}
        </nav>
        <span class="who">
          {session.email}{' '}
          <button class="link" onClick={() => void logout()}>
            log out
          </button>
        </span>
      </header>
      <main>{page}</main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
